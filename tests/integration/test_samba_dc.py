"""Smoke tests for the real Samba AD DC fixture (tests/support/samba.py)."""
from __future__ import annotations

import ssl
import uuid

import pytest
from ldap3 import BASE, LEVEL, MODIFY_REPLACE, NONE, Connection, Server, Tls
from ldap3.core.exceptions import (
    LDAPConstraintViolationResult,
    LDAPSocketOpenError,
    LDAPStrongerAuthRequiredResult,
)

pytestmark = pytest.mark.samba


def _pwd(password: str) -> bytes:
    return f'"{password}"'.encode("utf-16-le")


def test_ldaps_bind_validates_the_dc_certificate(samba_dc):
    conn = samba_dc.connect()
    assert conn.bound and conn.server.ssl
    conn.search(samba_dc.base_dn, "(objectClass=domain)", BASE, attributes=["name"])
    assert conn.entries[0].name.value == "corp"
    conn.unbind()

    # The validation is real: the system trust store does not know Samba's own CA.
    untrusted = Tls(validate=ssl.CERT_REQUIRED, valid_names=[samba_dc.tls_name])
    server = Server(samba_dc.host, port=636, use_ssl=True, tls=untrusted, get_info=NONE,
                    connect_timeout=5)
    with pytest.raises(LDAPSocketOpenError, match="CERTIFICATE_VERIFY_FAILED"):
        Connection(server, samba_dc.admin_dn, samba_dc.admin_password, auto_bind=True,
                   raise_exceptions=True)


def test_simple_bind_without_tls_is_refused(samba_dc):
    server = Server(samba_dc.host, port=389, get_info=NONE, connect_timeout=5)
    conn = Connection(server, samba_dc.admin_dn, samba_dc.admin_password, raise_exceptions=True)
    conn.open()
    with pytest.raises(LDAPStrongerAuthRequiredResult) as info:
        conn.bind()
    assert info.value.result == 8
    assert "BindSimple: Transport encryption required." in info.value.message
    conn.unbind()


def test_starttls_on_389(samba_dc):
    conn = samba_dc.connect(starttls=True)
    assert conn.bound and conn.tls_started and not conn.server.ssl
    assert conn.server.port == 389
    conn.search(samba_dc.base_dn, "(objectClass=domain)", BASE, attributes=["name"])
    assert conn.entries[0].name.value == "corp"
    conn.unbind()


def test_base_layout_and_fresh_ou(samba_dc, samba_ou):
    conn = samba_dc.connect()
    conn.search(samba_dc.itbot_ou, "(objectClass=organizationalUnit)", LEVEL, attributes=["ou"])
    children = {entry.entry_dn for entry in conn.entries}
    assert {samba_dc.users_ou, samba_dc.groups_ou, samba_dc.disabled_ou, samba_ou} <= children
    conn.search(samba_ou, "(objectClass=*)", LEVEL)
    assert conn.entries == []
    conn.unbind()


def test_create_user_password_policy_and_enable(samba_dc, samba_ou):
    sam = "t" + uuid.uuid4().hex[:10]
    dn = f"CN=Smoke {sam},{samba_ou}"
    conn = samba_dc.connect()
    conn.add(dn, ["top", "person", "organizationalPerson", "user"], {
        "sAMAccountName": sam, "userPrincipalName": f"{sam}@{samba_dc.dns_domain}",
        "givenName": "Smoke", "sn": sam, "displayName": f"Smoke {sam}",
    })
    conn.search(dn, "(objectClass=user)", BASE, attributes=["userAccountControl"])
    assert conn.entries[0].userAccountControl.value == 546  # NORMAL | DISABLED | PASSWD_NOTREQD

    with pytest.raises(LDAPConstraintViolationResult) as info:
        conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [_pwd("Ab1!")])]})
    assert info.value.result == 19
    assert "0000052D" in info.value.message and "too short" in info.value.message

    with pytest.raises(LDAPConstraintViolationResult, match="0000052D.*complexity"):
        conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [_pwd("alllowercase")])]})

    password = "Sm0ke!Test-" + sam
    conn.modify(dn, {"unicodePwd": [(MODIFY_REPLACE, [_pwd(password)])]})
    conn.modify(dn, {"userAccountControl": [(MODIFY_REPLACE, [512])]})
    conn.search(dn, "(objectClass=user)", BASE, attributes=["userAccountControl"])
    assert conn.entries[0].userAccountControl.value == 512
    conn.unbind()

    user_conn = samba_dc.connect(dn, password)
    assert user_conn.bound
    user_conn.unbind()
