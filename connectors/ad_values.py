"""Active Directory values and rules the connector enforces itself (Samba does not enforce all of them).

userAccountControl bits (KB 305144), accountExpires as a Windows FILETIME, the friendly attribute
names the bot uses, AD's length limits, and DN comparison that ignores case and escaping style.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from workflows.directory import InvalidInputError

UAC_DISABLED = 0x2
UAC_PASSWD_NOTREQD = 0x20
UAC_NORMAL = 0x200
UAC_NEW_USER = UAC_NORMAL | UAC_DISABLED | UAC_PASSWD_NOTREQD  # 546: what AD gives an LDAP add
DOMAIN_USERS_RID = 513      # a new account's primaryGroupID: a member of Domain Users without memberOf
NORMAL_USER = "(sAMAccountType=805306368)"   # users only: not computers, groups or contacts
NEVER_EXPIRES = (0, 0x7FFFFFFFFFFFFFFF)
USER_OBJECT_CLASS = ["top", "person", "organizationalPerson", "user"]

# Friendly name → LDAP attribute, with AD's schema limit (rangeUpper) for each.
ATTRIBUTES = {
    "title": "title", "department": "department", "office": "physicalDeliveryOfficeName",
    "employee_id": "employeeID", "employee_number": "employeeNumber", "employee_type": "employeeType",
    "given_name": "givenName", "surname": "sn", "display_name": "displayName", "company": "company",
    "description": "description", "mail": "mail", "phone": "telephoneNumber", "mobile": "mobile",
    "street": "streetAddress", "city": "l", "state": "st", "postal_code": "postalCode",
}
MAX_LENGTH = {
    "title": 128, "department": 64, "physicalDeliveryOfficeName": 128, "employeeID": 16,
    "employeeNumber": 512, "employeeType": 256, "givenName": 64, "sn": 64, "displayName": 256,
    "company": 64, "description": 1024, "mail": 256, "telephoneNumber": 64, "mobile": 64,
    "streetAddress": 1024, "l": 128, "st": 128, "postalCode": 40, "cn": 64,
}
_BY_LDAP_NAME = {v.lower(): v for v in ATTRIBUTES.values()}
SAM_FORBIDDEN = set('"/\\[]:;|=,+*?<>')


def invalid(message: str, code: str) -> InvalidInputError:
    return InvalidInputError(message, system="ad", code=code)


def ldap_attribute(name: str) -> str:
    """The LDAP name for a friendly (``office``) or LDAP (``physicalDeliveryOfficeName``) name."""
    found = ATTRIBUTES.get(name) or _BY_LDAP_NAME.get(name.lower())
    if not found:
        known = ", ".join(sorted(ATTRIBUTES))
        raise invalid(f"attribute {name!r} cannot be set here (known: {known})", "attribute")
    return found


def check_value(attribute: str, value: str | None) -> str | None:
    """A value AD will take for a single-valued string attribute; '' and None both mean 'clear'."""
    if value is None:
        return None
    text = str(value).strip()
    if any(ord(c) < 32 for c in text):
        raise invalid(f"{attribute} contains control characters", attribute)
    limit = MAX_LENGTH.get(attribute)
    if limit and len(text) > limit:
        raise invalid(f"{attribute} is {len(text)} characters; AD allows at most {limit}", attribute)
    return text or None


def check_sam(username: str) -> None:
    """AD's sAMAccountName rules, enforced before any write (Samba takes 21 characters, AD does not)."""
    if not username or not username.strip(" ."):
        raise invalid("the username is empty", "sAMAccountName")
    if len(username) > 20:
        raise invalid(f"username {username!r} is {len(username)} characters; AD allows at most 20",
                      "sAMAccountName")
    bad = sorted({c for c in username if c in SAM_FORBIDDEN or ord(c) < 32})
    if bad:
        raise invalid(f"username {username!r} contains characters AD forbids: {' '.join(bad)}",
                      "sAMAccountName")
    if username.endswith("."):
        raise invalid(f"username {username!r} ends with a period", "sAMAccountName")


def check_upn(upn: str) -> None:
    local, at, domain = upn.partition("@")
    if not local or not at or "@" in domain or "." not in domain or any(c.isspace() for c in upn):
        raise invalid(f"{upn!r} is not a user principal name (name@domain)", "userPrincipalName")


def has_password(entry: Entry) -> bool:
    """AD marks an LDAP-created account that never had a password with PASSWD_NOTREQD and
    pwdLastSet 0; setting the initial credential clears the flag, and a user's own change stamps pwdLastSet."""
    never = uac_of(entry.attrs) & UAC_PASSWD_NOTREQD and str(entry.get("pwdLastSet") or "0") == "0"
    return not never


def domain_rid(entry: Entry) -> int | None:
    """The relative id of a domain object (objectSid S-1-5-21-x-y-z-RID), the number a user's
    primaryGroupID holds; None for builtin and well-known SIDs. ldap3 without a schema hands the SID
    over as bytes, or as text when those bytes happen to be valid UTF-8."""
    sid = entry.get("objectSid")
    if isinstance(sid, str):
        sid = sid.encode("utf-8")
    if not isinstance(sid, bytes) or len(sid) != 28 or sid[8:12] != (21).to_bytes(4, "little"):
        return None
    return int.from_bytes(sid[24:], "little")


def uac_of(attrs: dict) -> int:
    return int(first(attrs, "userAccountControl") or 0)


def first(attrs: dict, name: str):
    values = attrs.get(name)
    if isinstance(values, list):
        return values[0] if values else None
    return values


# --- accountExpires --------------------------------------------------------------------------------

_FILETIME_EPOCH = datetime(1601, 1, 1, tzinfo=timezone.utc)


def to_filetime(moment: datetime) -> int:
    """100-ns intervals since 1601-01-01 UTC."""
    delta = moment.astimezone(timezone.utc) - _FILETIME_EPOCH
    return (delta.days * 86400 + delta.seconds) * 10_000_000 + delta.microseconds * 10


def from_filetime(value: int | str | None) -> datetime | None:
    """The moment an accountExpires value stands for, or None for 'never'."""
    number = int(value or 0)
    if number in NEVER_EXPIRES:
        return None
    return _FILETIME_EPOCH + timedelta(microseconds=number // 10)


def expiry_value(last_day: date | datetime | None, zone: tzinfo) -> int:
    """accountExpires for 'may sign in until the END of last_day' (local time), as AD's own tools set it.

    A datetime is taken as the exact moment of expiry; None means never (0).
    """
    if last_day is None:
        return 0
    if isinstance(last_day, datetime):
        moment = last_day if last_day.tzinfo else last_day.replace(tzinfo=zone)
    else:
        moment = datetime.combine(last_day + timedelta(days=1), time(0), tzinfo=zone)
    return to_filetime(moment)


def describe_expiry(value: int | str | None) -> str:
    moment = from_filetime(value)
    return "never" if moment is None else moment.isoformat().replace("+00:00", "Z")


# --- DNs -------------------------------------------------------------------------------------------

_ESCAPE = re.compile(r"\\([0-9A-Fa-f]{2})|\\(.)", re.S)


def _unescape(value: str) -> str:
    raw = bytearray()
    pos = 0
    for match in _ESCAPE.finditer(value):
        raw += value[pos:match.start()].encode()
        raw += bytes([int(match.group(1), 16)]) if match.group(1) else match.group(2).encode()
        pos = match.end()
    raw += value[pos:].encode()
    return raw.decode("utf-8", errors="replace")


def _split(text: str, separator: str) -> list[str]:
    """Split on unescaped ``separator`` (RFC 4514: a backslash escapes the next character)."""
    parts, current, escaped = [], [], False
    for char in text:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == separator:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts


def dn_key(dn: str) -> tuple:
    """A DN in a form that compares equal however it was escaped or cased (CN=a\\;b == cn=A\\3Bb).
    (ldap3's parse_dn refuses valid DNs such as ``CN=ops#,…``, so this splits them itself.)"""
    key = []
    for rdn in _split(dn, ","):
        attr, eq, value = rdn.partition("=")
        if not eq or not attr.strip():
            raise invalid(f"{dn!r} is not a distinguished name", "invalidDNSyntax")
        key.append((attr.strip().lower(), _unescape(value.strip()).casefold()))
    return tuple(key)


def same_dn(a: str, b: str) -> bool:
    return dn_key(a) == dn_key(b)


def parent_key(dn: str) -> tuple:
    return dn_key(dn)[1:]


def is_dn(identifier: str) -> bool:
    """Usernames cannot contain '=' (AD forbids it), so anything with one is meant as a DN."""
    return "=" in identifier


@dataclass(frozen=True)
class Entry:
    dn: str
    attrs: dict

    def get(self, name: str):
        return first(self.attrs, name)

    @property
    def is_user(self) -> bool:
        return self.get("sAMAccountType") == "805306368"

    @property
    def username(self) -> str:
        return self.get("sAMAccountName") or ""

    def matches(self, identifier: str) -> bool:
        if is_dn(identifier):
            return same_dn(self.dn, identifier)
        wanted = identifier.casefold()
        return wanted in ((self.get("sAMAccountName") or "").casefold(),
                          (self.get("userPrincipalName") or "").casefold())
