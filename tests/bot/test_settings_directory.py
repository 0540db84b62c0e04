"""Directory settings: Active Directory (LDAP_*) and Entra ID (AZURE_*, GRAPH_URL, ENTRA_UPN_DOMAIN).

Both are optional; a half-configured one stops start-up with one line naming the variable.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.logs import configure_logging
from bot.settings import ENTRA_VARIABLES, LDAP_VARIABLES, Secret, Settings, SettingsError
from connectors.directories import build_ad, build_directories, build_entra
from workflows.config import ConfigError

REPO = Path(__file__).resolve().parents[2]
SLACK = {"SLACK_BOT_TOKEN": "xoxb-1-2-abc", "SLACK_SIGNING_SECRET": "0123456789abcdef0123456789abcdef"}
BIND_PASSWORD = "Bind-Pa55word!xyz"
CLIENT_SECRET = "cl1ent~Secret.Value_99"
TENANT_GUID = "9188040d-6c67-4c5b-b112-36a304b66dad"
CLIENT_ID = "11111111-2222-3333-4444-555555555555"


@pytest.fixture
def ca_file(tmp_path) -> str:
    path = tmp_path / "ca.pem"
    path.write_text("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n")
    return str(path)


@pytest.fixture
def ad_env(ca_file) -> dict[str, str]:
    return {**SLACK, "LDAP_URL": "ldaps://dc1.corp.example.com", "LDAP_BIND_DN": "CN=svc-itbot,OU=Service,DC=corp,DC=example,DC=com",
            "LDAP_BIND_PASSWORD": BIND_PASSWORD, "LDAP_BASE_DN": "DC=corp,DC=example,DC=com",
            "LDAP_USERS_OU": "OU=Staff,DC=corp,DC=example,DC=com", "LDAP_CA_FILE": ca_file}


ENTRA = {**SLACK, "AZURE_TENANT_ID": TENANT_GUID, "AZURE_CLIENT_ID": CLIENT_ID, "AZURE_CLIENT_SECRET": CLIENT_SECRET,
         "ENTRA_UPN_DOMAIN": "Contoso.com"}


def test_no_directory_is_a_valid_configuration():
    s = Settings.from_env(SLACK)
    assert not s.ad_configured and not s.entra_configured
    assert build_directories(s) == {} and build_ad(s) is None and build_entra(s) is None


def test_active_directory_settings_and_their_defaults(ad_env, ca_file):
    s = Settings.from_env(ad_env)
    assert s.ad_configured and not s.entra_configured
    assert s.ldap_url == "ldaps://dc1.corp.example.com" and not s.ldap_starttls
    assert s.ldap_bind_password == Secret(BIND_PASSWORD) and s.ldap_ca_file == ca_file
    assert s.ldap_upn_domain == "corp.example.com"     # from LDAP_BASE_DN's DC= parts
    assert (s.ldap_connect_timeout, s.ldap_receive_timeout, s.ldap_page_size) == (10.0, 30, 500)
    assert s.ldap_disabled_ou is None and s.ldap_groups_base is None
    s = Settings.from_env({**ad_env, "LDAP_URL": "ldap://dc1.corp.example.com:389", "LDAP_STARTTLS": "true",
                           "LDAP_UPN_DOMAIN": "Example.COM", "LDAP_DISABLED_OU": "OU=Leavers,DC=corp,DC=example,DC=com",
                           "LDAP_GROUPS_BASE": "ou=groups,dc=CORP,dc=example,dc=com", "LDAP_TLS_NAME": "dc1.corp.example.com",
                           "LDAP_CONNECT_TIMEOUT": "2.5", "LDAP_RECEIVE_TIMEOUT": "20", "LDAP_PAGE_SIZE": "1000"})
    assert s.ldap_starttls and s.ldap_upn_domain == "example.com" and s.ldap_tls_name == "dc1.corp.example.com"
    assert (s.ldap_connect_timeout, s.ldap_receive_timeout, s.ldap_page_size) == (2.5, 20, 1000)


def test_the_ad_connector_is_built_from_the_settings(ad_env):
    ad = build_ad(Settings.from_env({**ad_env, "LDAP_DISABLED_OU": "OU=Leavers,DC=corp,DC=example,DC=com"}))
    assert ad.label == "ldaps://dc1.corp.example.com" and ad.upn_domain == "corp.example.com"
    assert ad.disabled_ou == "OU=Leavers,DC=corp,DC=example,DC=com" and ad.round_trips == 0   # nothing sent yet
    assert str(ad.zone) == "Europe/London"     # expiry days end at midnight in config/itbot.yaml's zone
    assert BIND_PASSWORD not in repr(ad) + repr(ad.session)


@pytest.mark.parametrize("change,message", [
    ({"LDAP_URL": ""}, "LDAP_URL is not set, but LDAP_BIND_DN is: set LDAP_URL"),
    ({"LDAP_URL": "https://dc1"}, "LDAP_URL is malformed: expected ldaps://HOST"),
    ({"LDAP_URL": "ldaps://dc1:99999"}, "LDAP_URL is malformed: bad port"),
    ({"LDAP_URL": "ldap://dc1.corp.example.com"}, "LDAP_URL ldap://dc1.corp.example.com is plain LDAP"),
    ({"LDAP_STARTTLS": "1"}, "LDAP_STARTTLS=1 is for ldap:// URLs"),
    ({"LDAP_STARTTLS": "maybe"}, "LDAP_STARTTLS is malformed: expected 1 or 0"),
    ({"LDAP_BIND_DN": ""}, "LDAP_BIND_DN is not set: Active Directory (LDAP_URL) needs it"),
    ({"LDAP_BIND_DN": "CN=svc,,DC=x"}, "LDAP_BIND_DN is malformed: expected a distinguished name"),
    ({"LDAP_BIND_PASSWORD": " "}, "LDAP_BIND_PASSWORD is not set"),
    ({"LDAP_BASE_DN": ""}, "LDAP_BASE_DN is not set: Active Directory (LDAP_URL) needs it"),
    ({"LDAP_BASE_DN": "corp.example.com"}, "LDAP_BASE_DN is malformed"),
    ({"LDAP_USERS_OU": ""}, "LDAP_USERS_OU is not set"),
    ({"LDAP_USERS_OU": "OU=Staff,DC=other,DC=com"}, "LDAP_USERS_OU (OU=Staff,DC=other,DC=com) is not under LDAP_BASE_DN"),
    ({"LDAP_DISABLED_OU": "OU=Gone"}, "LDAP_DISABLED_OU (OU=Gone) is not under LDAP_BASE_DN"),
    ({"LDAP_GROUPS_BASE": "Groups"}, "LDAP_GROUPS_BASE is malformed"),
    ({"LDAP_CA_FILE": "/nonexistent/ca.pem"}, "LDAP_CA_FILE=/nonexistent/ca.pem does not exist"),
    ({"LDAP_TLS_NAME": "dc1 corp"}, "LDAP_TLS_NAME is malformed"),
    ({"LDAP_UPN_DOMAIN": "corp"}, "LDAP_UPN_DOMAIN is malformed"),
    ({"LDAP_BASE_DN": "OU=Corp,O=Example", "LDAP_USERS_OU": "OU=Staff,OU=Corp,O=Example"},
     "LDAP_UPN_DOMAIN is not set and LDAP_BASE_DN has no DC= parts"),
    ({"LDAP_CONNECT_TIMEOUT": "soon"}, "LDAP_CONNECT_TIMEOUT is malformed"),
    ({"LDAP_RECEIVE_TIMEOUT": "2.5"}, "LDAP_RECEIVE_TIMEOUT is malformed: expected a whole number"),
    ({"LDAP_PAGE_SIZE": "5000"}, "LDAP_PAGE_SIZE is out of range: expected 1–1000"),
])
def test_each_ad_mistake_is_one_line_naming_the_variable(ad_env, change, message):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**ad_env, **change})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert BIND_PASSWORD not in str(info.value)


def test_a_lone_ldap_variable_asks_for_ldap_url():
    with pytest.raises(SettingsError, match="LDAP_URL is not set, but LDAP_BASE_DN is"):
        Settings.from_env({**SLACK, "LDAP_BASE_DN": "DC=corp,DC=example,DC=com"})


def test_entra_settings_and_their_defaults():
    s = Settings.from_env(ENTRA)
    assert s.entra_configured and not s.ad_configured
    assert s.azure_client_secret == Secret(CLIENT_SECRET) and s.entra_upn_domain == "contoso.com"
    assert s.azure_authority_host == "https://login.microsoftonline.com"
    assert s.graph_url == "https://graph.microsoft.com/v1.0"
    s = Settings.from_env({**ENTRA, "AZURE_TENANT_ID": "contoso.onmicrosoft.com",
                           "AZURE_AUTHORITY_HOST": "https://login.microsoftonline.us/",
                           "GRAPH_URL": "https://graph.microsoft.us/v1.0/"})
    assert s.azure_authority_host == "https://login.microsoftonline.us" and s.graph_url == "https://graph.microsoft.us/v1.0"
    entra = build_entra(s)
    assert entra.label == "tenant contoso.onmicrosoft.com" and entra.upn_domain == "contoso.com"
    assert entra.config.base_url == "https://graph.microsoft.us/v1.0" and entra.config.timeout == s.http_timeout
    assert CLIENT_SECRET not in repr(entra.config)
    assert set(build_directories(s)) == {"entra"}


@pytest.mark.parametrize("change,message", [
    ({"AZURE_TENANT_ID": ""}, "AZURE_TENANT_ID is not set, but AZURE_CLIENT_ID is"),
    ({"AZURE_TENANT_ID": "common"}, "AZURE_TENANT_ID is 'common', a multi-tenant alias"),
    ({"AZURE_TENANT_ID": "Organizations"}, "AZURE_TENANT_ID is 'Organizations', a multi-tenant alias"),
    ({"AZURE_TENANT_ID": "my tenant"}, "AZURE_TENANT_ID is malformed: expected a GUID or a domain"),
    ({"AZURE_CLIENT_ID": ""}, "AZURE_CLIENT_ID is not set: Entra ID (AZURE_TENANT_ID) needs it"),
    ({"AZURE_CLIENT_ID": "itbot-app"}, "AZURE_CLIENT_ID is malformed: expected the Application (client) ID"),
    ({"AZURE_CLIENT_SECRET": ""}, "AZURE_CLIENT_SECRET is not set"),
    ({"AZURE_AUTHORITY_HOST": "http://login.microsoftonline.com"}, "AZURE_AUTHORITY_HOST is malformed: expected an https"),
    ({"GRAPH_URL": "https://graph.microsoft.com/beta"}, "GRAPH_URL is malformed: itbot uses Microsoft Graph v1.0"),
    ({"GRAPH_URL": "graph.microsoft.com"}, "GRAPH_URL is malformed: expected an https:// URL"),
    ({"ENTRA_UPN_DOMAIN": ""}, "ENTRA_UPN_DOMAIN is not set"),
    ({"ENTRA_UPN_DOMAIN": "@contoso.com"}, "ENTRA_UPN_DOMAIN is malformed"),
])
def test_each_entra_mistake_is_one_line_naming_the_variable(change, message):
    with pytest.raises(SettingsError) as info:
        Settings.from_env({**ENTRA, **change})
    assert message in str(info.value) and "\n" not in str(info.value)
    assert CLIENT_SECRET not in str(info.value)


def test_a_loopback_graph_double_may_be_plain_http():
    s = Settings.from_env({**ENTRA, "GRAPH_URL": "http://127.0.0.1:8080/v1.0"})
    assert s.graph_url == "http://127.0.0.1:8080/v1.0"


def test_both_directories_together(ad_env):
    s = Settings.from_env({**ad_env, **ENTRA})
    assert s.ad_configured and s.entra_configured
    assert list(build_directories(s)) == ["ad", "entra"]


def test_the_directory_secrets_are_masked_in_logs_and_never_in_repr(ad_env):
    s = Settings.from_env({**ad_env, **ENTRA})
    assert BIND_PASSWORD in s.secrets() and CLIENT_SECRET in s.secrets()
    assert BIND_PASSWORD not in repr(s) and CLIENT_SECRET not in repr(s)
    import io
    stream = io.StringIO()
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        configure_logging("INFO", "text", s.secrets(), stream=stream)
        logging.getLogger("itbot.test").info("bound with %s and %s", BIND_PASSWORD, CLIENT_SECRET)
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
    assert BIND_PASSWORD not in stream.getvalue() and CLIENT_SECRET not in stream.getvalue()
    assert "bound with *** and ***" in stream.getvalue()


def test_directory_yaml_is_validated_at_start_up(tmp_path):
    (tmp_path / "itbot.yaml").write_text("company: Example\n")
    (tmp_path / "directory.yaml").write_text("ad:\n  groups:\n    everyone: [Staff]\n  expire_at_end: true\n")
    with pytest.raises(ConfigError, match=r"directory.yaml:4: unknown key 'expire_at_end' in ad"):
        Settings.from_env({**SLACK, "ITBOT_CONFIG_DIR": str(tmp_path)})


def test_check_config_names_a_half_configured_directory_in_one_line():
    clean = {k: v for k, v in os.environ.items()
             if not k.startswith(("SLACK_", "ITBOT_")) and k not in (*LDAP_VARIABLES, *ENTRA_VARIABLES)}
    result = subprocess.run([sys.executable, "-m", "bot", "check-config"], cwd=REPO, capture_output=True, text=True,
                            env={**clean, "AZURE_TENANT_ID": "common", "AZURE_CLIENT_SECRET": CLIENT_SECRET},
                            timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "itbot: error: AZURE_TENANT_ID is 'common', a multi-tenant alias: itbot signs in to one tenant; use its id "
        "(a GUID) or its verified domain (contoso.onmicrosoft.com)"]
    assert CLIENT_SECRET not in result.stderr + result.stdout
