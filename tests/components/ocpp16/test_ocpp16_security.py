"""The OCPP 1.6 security whitepaper, station side: security profile 3, certificates,
AuthorizationKey rotation and SecurityProfile upgrades, against the test CSMS over real
TLS WebSockets with certificates made here (OCA 1.6 test cases TC_074_CS, TC_075_1_CS,
TC_087_CS)."""

from __future__ import annotations

import asyncio
import hashlib
import logging

from ocpp16_helpers import PASSWORD, STATION, station_yaml

from orge.testing.ocpp_csms import OCPP16, CsmsPki, OcppCsms, accepted_attempts

NEW_KEY = "new-authorization-key-0123"


async def test_tc_087_and_tc_074_profile_3_certificate_renewed_by_the_csms(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        cert, key = pki.client_files(STATION)
        yaml = station_yaml(
            csms.url(),
            password=None,
            ca_file=pki.root_file,
            security_profile=3,
            client_certificate=cert,
            client_key=key,
        )
        _, result = await start_station(config_dir(yaml))
        assert not result.problems
        await csms.wait_for("BootNotification")
        first = accepted_attempts(csms, STATION)[0]
        assert CsmsPki.common_name(first.client_certificate) == STATION  # TC_087_CS
        assert not first.basic_auth
        config = await csms.call(STATION, "GetConfiguration", {"key": ["SecurityProfile"]})
        assert config["configurationKey"][0]["value"] == "3"
        # TC_074_CS: ExtendedTriggerMessage -> SignCertificate -> CertificateSigned -> reconnect
        trigger = await csms.call(
            STATION, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
        )
        assert trigger["status"] == "Accepted"
        csr = (await csms.wait_for("SignCertificate"))[0].payload["csr"]
        from cryptography import x509
        from cryptography.x509.oid import NameOID

        subject = x509.load_pem_x509_csr(csr.encode()).subject
        assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == STATION
        assert subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "ORGE"
        chain = pki.sign_csr(csr)
        signed = await csms.call(STATION, "CertificateSigned", {"certificateChain": chain})
        assert signed["status"] == "Accepted"
        await csms.wait_until(lambda: len(accepted_attempts(csms, STATION)) >= 2, 8, "reconnect")
        new = accepted_attempts(csms, STATION)[1].client_certificate
        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        assert x509.load_der_x509_certificate(new).serial_number == leaf.serial_number


async def test_tc_075_1_install_then_get_and_delete_a_manufacturer_root(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        installed = await csms.call(
            STATION,
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": pki.root_pem},
        )
        assert installed["status"] == "Accepted"
        ids = await csms.call(
            STATION,
            "GetInstalledCertificateIds",
            {"certificateType": "ManufacturerRootCertificate"},
        )
        assert ids["status"] == "Accepted"
        (hash_data,) = ids["certificateHashData"]
        assert (
            hash_data["issuerNameHash"]
            == hashlib.sha256(pki.root.issuer.public_bytes()).hexdigest()
        )
        assert hash_data["serialNumber"] == format(pki.root.serial_number, "x")
        none = await csms.call(
            STATION,
            "GetInstalledCertificateIds",
            {"certificateType": "CentralSystemRootCertificate"},
        )
        assert none["status"] == "NotFound"
        deleted = await csms.call(STATION, "DeleteCertificate", {"certificateHashData": hash_data})
        assert deleted["status"] == "Accepted"
        again = await csms.call(STATION, "DeleteCertificate", {"certificateHashData": hash_data})
        assert again["status"] == "NotFound"


def ocpp201_fallback_yaml(url: str) -> str:
    """An ocpp201 block on the same URL: the fallback while OCPP_PRIMARY=16."""
    return (
        f"ocpp201:\n  url: {url}\n  station_id: {STATION}\n  password: {PASSWORD}\n"
        "  response_timeout: 1\n  retry_backoff_wait_minimum: 0.1\n"
        "  retry_backoff_random_range: 0.1\n  retry_backoff_repeat_times: 1\n"
    )


async def test_authorization_key_refused_by_the_csms_goes_back_to_the_old_one(
    config_dir, start_station, monkeypatch, caplog
) -> None:
    """Whitepaper: a refused new AuthorizationKey -> the old one again, on 1.6 (no
    hand-over to the ocpp201 fallback on the same URL); the refused key is forgotten (a
    later ChangeConfiguration of another key, and a restart, use the old one)."""
    monkeypatch.setenv("OCPP_PRIMARY", "16")
    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:  # 1.6 and 2.0.1
        config = config_dir(station_yaml(csms.url()) + ocpp201_fallback_yaml(csms.url()))
        hub, _ = await start_station(config)
        await csms.wait_for("BootNotification")
        changed = await csms.change_configuration(STATION, "AuthorizationKey", NEW_KEY)
        assert changed["status"] == "Accepted"
        # write-only: GetConfiguration never shows it
        shown = await csms.call(STATION, "GetConfiguration", {"key": ["AuthorizationKey"]})
        assert "value" not in shown["configurationKey"][0]
        await csms.wait_until(
            lambda: any(a.outcome == "unauthorized" for a in csms.attempts), 8, "refusal"
        )
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 2, 8, "old key again")
        await csms.wait_for("BootNotification", count=2)
        station = hub.data["ocpp16"]
        assert station.password == PASSWORD
        events = await csms.wait_for(
            "SecurityEventNotification", count=2, where=lambda p: p["type"] != "StartupOfTheDevice"
        )
        assert [m.payload["type"] for m in events] == [
            "ReconfigurationOfSecurityParameters",
            "FailedToAuthenticateAtCentralSystem",  # the whitepaper's name
        ]
        assert all(NEW_KEY not in m.raw for m in csms.messages if m.action != "ChangeConfiguration")
        # only ocpp16 dialled; ocpp201 stayed on standby
        assert [a.offered[0] for a in csms.attempts] == [OCPP16] * len(csms.attempts)
        assert [a.protocol for a in accepted_attempts(csms)] == [OCPP16, OCPP16]
        assert hub.states.get("sensor.ocpp201_connection").state == "standby"
        assert hub.states.get("sensor.ocpp_active_protocol").state == "ocpp1.6"
        lines = [r.getMessage() for r in caplog.records if r.name.startswith(("comp", "orge.sec"))]
        assert any("refused the new password" in line for line in lines)
        assert not any("configured password" in line for line in lines)

        # another key (Accepted) and a refused AuthorizationKey (under 16 characters):
        # no rotation, no reconnect, no event
        attempts, sent = len(csms.attempts), len(csms.received("SecurityEventNotification"))
        heartbeat = await csms.change_configuration(STATION, "HeartbeatInterval", "120")
        assert heartbeat["status"] == "Accepted"
        short = await csms.change_configuration(STATION, "AuthorizationKey", "short")
        assert short["status"] == "Rejected"
        await csms.call(STATION, "GetConfiguration", {"key": ["HeartbeatInterval"]})
        await asyncio.sleep(1.0)
        assert len(csms.attempts) == attempts
        assert len(csms.received("SecurityEventNotification")) == sent
        assert station.password == PASSWORD

        # a restart dials with the old key at once
        await hub.async_stop()
        hub, _ = await start_station(config)
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 3, 8, "restart")
        assert len(csms.attempts) == attempts + 1  # no refused attempt first
        assert hub.data["ocpp16"].password == PASSWORD


async def test_security_profile_upgrade_that_cannot_connect_reverts(
    config_dir, start_station, tmp_path
) -> None:
    """Profile 2 -> 3 (the whitepaper's upgrade): the CSMS still wants Basic auth, so the
    profile 3 connection (no Basic auth) is refused and the station is back on profile 2.
    A downgrade is refused outright."""
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(
        passwords={STATION: PASSWORD}, ssl_context=pki.server_context(require_client=False)
    ) as csms:
        cert, key = pki.client_files(STATION)
        yaml = station_yaml(
            csms.url(), ca_file=pki.root_file, client_certificate=cert, client_key=key,
            security_profile=2,
        )  # fmt: skip
        hub, _ = await start_station(config_dir(yaml))
        await csms.wait_for("BootNotification")
        down = await csms.change_configuration(STATION, "SecurityProfile", "1")
        assert down["status"] == "Rejected"
        up = await csms.change_configuration(STATION, "SecurityProfile", "3")
        assert up["status"] == "Accepted"
        await csms.wait_until(
            lambda: any(a.outcome == "unauthorized" for a in csms.attempts), 8, "refused"
        )
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 2, 8, "back on 2")
        assert accepted_attempts(csms)[1].basic_auth
        station = hub.data["ocpp16"]
        assert station.security.shared.profile == 2
        config = await csms.call(STATION, "GetConfiguration", {"key": ["SecurityProfile"]})
        assert config["configurationKey"][0]["value"] == "2"


async def test_authorization_key_never_in_the_wire_log(config_dir, start_station, caplog) -> None:
    import logging

    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url(), log_messages=True)))
        await csms.wait_for("BootNotification")
        await csms.change_configuration(STATION, "AuthorizationKey", NEW_KEY)
        await csms.wait_until(lambda: len(csms.attempts) >= 2, 8, "reconnect")
    # the station's own log records, masked as orge's log handler masks them (the test
    # CSMS's records are not the station's)
    from orge.redact import RedactingFilter

    lines = []
    for record in caplog.records:
        if record.name.startswith("components."):
            RedactingFilter().filter(record)
            lines.append(record.getMessage())
    text = "\n".join(lines)
    assert "ChangeConfiguration" in text  # the frame was logged...
    assert NEW_KEY not in text  # ...without the key


async def test_signed_update_firmware_with_a_certificate_no_manufacturer_root_issued(
    config_dir, start_station, tmp_path
) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pki, other = CsmsPki(str(tmp_path / "a")), CsmsPki(str(tmp_path / "b"))
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        await csms.call(
            STATION,
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": pki.root_pem},
        )
        answer = await csms.call(
            STATION,
            "SignedUpdateFirmware",
            {
                "requestId": 1,
                "firmware": {
                    "location": "https://127.0.0.1:1/orge-9.9.9-py3-none-any.whl",
                    "retrieveDateTime": "2026-01-01T00:00:00Z",
                    "signingCertificate": open(other.client_files("FW")[0]).read(),
                    "signature": "c2lnbmF0dXJl",
                },
            },
        )
        assert answer["status"] == "InvalidCertificate"
        event = (
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
        )[0].payload
        assert event["type"] == "InvalidFirmwareSigningCertificate"


async def test_extended_trigger_message_of_a_core_message(config_dir, start_station) -> None:
    """ExtendedTriggerMessage (whitepaper) triggers what TriggerMessage does too."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        before = len(csms.received("Heartbeat"))
        answer = await csms.call(
            STATION, "ExtendedTriggerMessage", {"requestedMessage": "Heartbeat"}
        )
        assert answer["status"] == "Accepted"
        await csms.wait_for("Heartbeat", count=before + 1)


async def test_certificate_close_to_expiry_is_renewed(config_dir, start_station, tmp_path) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        cert, key = pki.client_files(STATION)
        yaml = station_yaml(
            csms.url(), password=None, ca_file=pki.root_file, security_profile=3,
            client_certificate=cert, client_key=key,
        )  # fmt: skip
        await start_station(config_dir(yaml))
        await csms.wait_for("BootNotification")
        await csms.call(
            STATION, "ExtendedTriggerMessage", {"requestedMessage": "SignChargePointCertificate"}
        )
        csr = (await csms.wait_for("SignCertificate"))[0].payload["csr"]
        short = pki.sign_csr(csr, days=2)  # within certificate_renew_days (30)
        signed = await csms.call(STATION, "CertificateSigned", {"certificateChain": short})
        assert signed["status"] == "Accepted"
        # reconnected with it, the station asks for a new one on its own
        requests = await csms.wait_for("SignCertificate", count=2, timeout=8)
        assert requests[1].payload["csr"] != csr
