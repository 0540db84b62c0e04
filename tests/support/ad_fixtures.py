"""Fixtures for tests against the Samba DC: an admin connection and Users/Disabled/Groups OUs per test."""
from __future__ import annotations

import pytest
from ldap3 import NONE


class OUs:
    def __init__(self, root: str):
        self.root, self.users, self.disabled, self.groups = (
            root, f"OU=Users,{root}", f"OU=Disabled,{root}", f"OU=Groups,{root}")


@pytest.fixture
def admin(samba_dc):
    conn = samba_dc.connect(get_info=NONE)
    yield conn
    conn.unbind()


@pytest.fixture
def ous(admin, samba_ou):
    out = OUs(samba_ou)
    for dn in (out.users, out.disabled, out.groups):
        admin.add(dn, ["top", "organizationalUnit"])
    return out
