"""Security profiles 2 and 3, certificates and password rotation (2.0.1 blocks A and M,
station side), against the test CSMS over real TLS WebSockets with certificates made here."""

from __future__ import annotations

import asyncio
import logging
import os
import stat

from ocpp201_helpers import PASSWORD, STATION, ocpp16_yaml, station_yaml, wait_until

from orge.testing.ocpp_csms import OCPP201, CsmsPki, OcppCsms, accepted_attempts

NEW_PASSWORD = "rotated-password-0123456789"


def profile3_yaml(url: str, pki: CsmsPki, client: tuple[str, str] | None, **extra: object) -> str:
    options: dict[str, object] = {"password": None, "ca_file": pki.root_file}
    options["security_profile"] = 3
    if client is not None:
        options["client_certificate"], options["client_key"] = client
    options.update(extra)
    return station_yaml(url, **options)


async def test_profile_3_connects_with_the_client_certificate(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        client = pki.client_files(STATION)
        hub, result = await start_station(config_dir(profile3_yaml(csms.url(), pki, client)))
        assert not result.problems
        hub.states.async_set("sensor.charger_state", "idle", {"cp": 0})
        await csms.wait_for("BootNotification")
        attempt = accepted_attempts(csms, STATION)[0]
        assert CsmsPki.common_name(attempt.client_certificate) == STATION
        assert not attempt.basic_auth  # profile 3: no Basic auth (A00)
        got = await csms.get_variables(STATION, ("SecurityCtrlr", "SecurityProfile"))
        assert got["getVariableResult"][0]["attributeValue"] == "3"


async def test_csms_requiring_a_client_certificate_refuses_a_station_without_one(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(
        passwords={STATION: PASSWORD}, ssl_context=pki.server_context(require_client=True)
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url(), ca_file=pki.root_file)))
        await wait_until(
            lambda: "client certificate" in hub.states.get("sensor.ocpp201_last_error").state,
            what="the refusal shown as a client certificate problem",
        )
        await asyncio.sleep(0.5)
        assert not accepted_attempts(csms)
        assert not csms.received()


async def test_tc_a_11_sign_certificate_then_reconnect_with_the_new_certificate(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        client = pki.client_files(STATION)
        hub, _ = await start_station(config_dir(profile3_yaml(csms.url(), pki, client)))
        await csms.wait_for("BootNotification")
        answer = await csms.trigger_message(STATION, "SignChargingStationCertificate")
        assert answer["status"] == "Accepted"
        request = (await csms.wait_for("SignCertificate"))[0].payload
        assert request["certificateType"] == "ChargingStationCertificate"
        assert "BEGIN CERTIFICATE REQUEST" in request["csr"]
        chain = pki.sign_csr(request["csr"])
        # the CSR's subject: O = OrganizationName, CN = the station id (A02)
        signed = await csms.call(
            STATION,
            "CertificateSigned",
            {"certificateChain": chain, "certificateType": "ChargingStationCertificate"},
        )
        assert signed["status"] == "Accepted"
        station = hub.data["ocpp201"]
        key_file = station.security.store.key_file
        assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
        # the station reconnects at once and presents the new certificate
        await csms.wait_until(lambda: len(accepted_attempts(csms, STATION)) >= 2, 8, "reconnect")
        new = accepted_attempts(csms, STATION)[1].client_certificate
        assert new is not None and new != accepted_attempts(csms, STATION)[0].client_certificate
        from cryptography import x509

        leaf = x509.load_pem_x509_certificates(chain.encode())[0]
        assert x509.load_der_x509_certificate(new).serial_number == leaf.serial_number
        # the private key never left the station: not in any frame
        key_text = key_file.read_text()
        assert all(key_text not in m.raw for m in csms.messages)


async def test_certificate_signed_for_another_key_is_rejected(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        client = pki.client_files(STATION)
        hub, _ = await start_station(config_dir(profile3_yaml(csms.url(), pki, client)))
        await csms.wait_for("BootNotification")
        await csms.trigger_message(STATION, "SignChargingStationCertificate")
        await csms.wait_for("SignCertificate")
        other = open(pki.client_files("OTHER")[0]).read()  # not the CSR's key
        signed = await csms.call(
            STATION,
            "CertificateSigned",
            {"certificateChain": other, "certificateType": "ChargingStationCertificate"},
        )
        assert signed["status"] == "Rejected"
        event = (
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
        )[0].payload
        assert event["type"] == "InvalidChargingStationCertificate"
        assert hub.data["ocpp201"].security.store.station_certificate() is None


async def test_install_get_and_delete_certificates(config_dir, start_station, tmp_path) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        none = await csms.call(STATION, "GetInstalledCertificateIds", {})
        assert none["status"] == "NotFound"
        installed = await csms.call(
            STATION,
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": pki.root_pem},
        )
        assert installed["status"] == "Accepted"
        not_a_cert = await csms.call(
            STATION,
            "InstallCertificate",
            {"certificateType": "CSMSRootCertificate", "certificate": "garbage"},
        )
        assert not_a_cert["status"] == "Rejected"
        ids = await csms.call(
            STATION,
            "GetInstalledCertificateIds",
            {"certificateType": ["ManufacturerRootCertificate"]},
        )
        assert ids["status"] == "Accepted"
        (entry,) = ids["certificateHashDataChain"]
        assert entry["certificateType"] == "ManufacturerRootCertificate"
        # the hash data as OCSP (RFC 6960) computes it, made here independently
        import hashlib

        from cryptography.hazmat.primitives import serialization

        root = pki.root
        key_bits = root.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        assert entry["certificateHashData"] == {
            "hashAlgorithm": "SHA256",
            "issuerNameHash": hashlib.sha256(root.issuer.public_bytes()).hexdigest(),
            "issuerKeyHash": hashlib.sha256(key_bits).hexdigest(),
            "serialNumber": format(root.serial_number, "x"),
        }
        entries = await csms.get_variables(STATION, ("SecurityCtrlr", "CertificateEntries"))
        assert entries["getVariableResult"][0]["attributeValue"] == "1"
        deleted = await csms.call(
            STATION, "DeleteCertificate", {"certificateHashData": entry["certificateHashData"]}
        )
        assert deleted["status"] == "Accepted"
        again = await csms.call(
            STATION, "DeleteCertificate", {"certificateHashData": entry["certificateHashData"]}
        )
        assert again["status"] == "NotFound"


async def test_tc_a_10_new_password_refused_goes_back_to_the_old_one(
    config_dir, start_station, monkeypatch, caplog
) -> None:
    """A01: the old password is kept until the CSMS accepts the new one; a CSMS that
    refuses the new one gets the old one again, on the same protocol (the refusal is the
    new password's: no hand-over to the ocpp16 fallback on the same URL), and a
    FailedToAuthenticateAtCsms event. The refused password is forgotten: a later
    SetVariables of something else does not try it again, nor does a restart."""
    monkeypatch.delenv("OCPP_PRIMARY", raising=False)
    caplog.set_level(logging.INFO)
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:  # 2.0.1 and 1.6
        config = config_dir(station_yaml(csms.url()) + ocpp16_yaml(csms.url()))
        hub, _ = await start_station(config)
        await csms.wait_for("BootNotification")
        answer = await csms.set_variables(
            STATION, ("SecurityCtrlr", "BasicAuthPassword", NEW_PASSWORD)
        )
        assert answer["setVariableResult"][0]["attributeStatus"] == "Accepted"
        # the CSMS still only knows the old password: the new one is refused (HTTP 401)
        await csms.wait_until(
            lambda: any(a.outcome == "unauthorized" for a in csms.attempts), 8, "refusal"
        )
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 2, 8, "old password")
        await csms.wait_for("BootNotification", count=2)  # booted again (TC_A_09_CS)
        station = hub.data["ocpp201"]
        assert station.password == PASSWORD
        events = await csms.wait_for(
            "SecurityEventNotification", count=2, where=lambda p: p["type"] != "StartupOfTheDevice"
        )
        assert [m.payload["type"] for m in events] == [
            "ReconfigurationOfSecurityParameters",  # the password was set
            "FailedToAuthenticateAtCsms",  # the CSMS refused it (HTTP 401)
        ]
        assert await station.journal.get_setting("security/password") == PASSWORD
        # only ocpp201 dialled (it offers 2.0.1 first); ocpp16 stayed on standby
        assert [a.offered[0] for a in csms.attempts] == [OCPP201] * len(csms.attempts)
        assert [a.protocol for a in accepted_attempts(csms)] == [OCPP201, OCPP201]
        assert hub.states.get("sensor.ocpp16_connection").state == "standby"
        assert hub.states.get("sensor.ocpp_active_protocol").state == "ocpp2.0.1"
        station_lines = [
            r.getMessage() for r in caplog.records if r.name.startswith(("comp", "orge.sec"))
        ]
        assert any("refused the new password" in line for line in station_lines)
        assert not any("configured password" in line for line in station_lines)
        assert station.model.value("SecurityCtrlr", "BasicAuthPassword") == PASSWORD

        # an unrelated SetVariables (Accepted), and a refused BasicAuthPassword (too short
        # for passwordString, 16-40 characters): no rotation, no reconnect, no event
        attempts, sent = len(csms.attempts), len(csms.received("SecurityEventNotification"))
        unrelated = await csms.set_variables(STATION, ("OCPPCommCtrlr", "HeartbeatInterval", "120"))
        assert unrelated["setVariableResult"][0]["attributeStatus"] == "Accepted"
        short = await csms.set_variables(STATION, ("SecurityCtrlr", "BasicAuthPassword", "short"))
        assert short["setVariableResult"][0]["attributeStatus"] == "Rejected"
        await csms.get_variables(STATION, ("OCPPCommCtrlr", "HeartbeatInterval"))  # after-hooks ran
        await asyncio.sleep(1.0)
        assert len(csms.attempts) == attempts
        assert len(csms.received("SecurityEventNotification")) == sent
        assert station.password == PASSWORD

        # a restart dials with the old password at once
        await hub.async_stop()
        hub, _ = await start_station(config)
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 3, 8, "restart")
        assert len(csms.attempts) == attempts + 1  # no refused attempt first
        assert hub.data["ocpp201"].password == PASSWORD


async def test_refused_password_left_in_the_device_model_is_never_tried(
    config_dir, start_station
) -> None:
    """A journal where SecurityCtrlr.BasicAuthPassword still holds a refused password
    while the password in use is the old one (what an earlier release left after a
    refusal): the station dials with the old one, the model holds it again, and a
    SetVariables of another variable rotates nothing (A01)."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        config = config_dir(station_yaml(csms.url()))
        hub, _ = await start_station(config)
        await csms.wait_for("BootNotification")
        journal = hub.data["ocpp201"].journal
        await journal.set_setting("dm/SecurityCtrlr/BasicAuthPassword", NEW_PASSWORD)
        await journal.set_setting("security/password", PASSWORD)
        await hub.async_stop()
        hub, _ = await start_station(config)
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 2, 8, "restart")
        station = hub.data["ocpp201"]
        assert station.model.value("SecurityCtrlr", "BasicAuthPassword") == PASSWORD
        stored = await station.journal.get_setting("dm/SecurityCtrlr/BasicAuthPassword")
        assert stored == PASSWORD
        # both starts' StartupOfTheDevice (the first one's journaled over the restart)
        await csms.wait_for(
            "SecurityEventNotification", 2, where=lambda p: p["type"] == "StartupOfTheDevice"
        )
        attempts, sent = len(csms.attempts), len(csms.received("SecurityEventNotification"))
        unrelated = await csms.set_variables(STATION, ("OCPPCommCtrlr", "HeartbeatInterval", "120"))
        assert unrelated["setVariableResult"][0]["attributeStatus"] == "Accepted"
        await csms.get_variables(STATION, ("OCPPCommCtrlr", "HeartbeatInterval"))
        await asyncio.sleep(1.0)
        assert len(csms.attempts) == attempts
        assert len(csms.received("SecurityEventNotification")) == sent
        assert all(a.outcome == "accepted" for a in csms.attempts)


async def test_new_password_accepted_drops_the_old_one(config_dir, start_station) -> None:
    passwords = {STATION: PASSWORD}
    async with OcppCsms(passwords=passwords) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        passwords[STATION] = NEW_PASSWORD  # the CSMS takes the new one from now on
        await csms.set_variables(STATION, ("SecurityCtrlr", "BasicAuthPassword", NEW_PASSWORD))
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 2, 8, "reconnect")
        station = hub.data["ocpp201"]
        assert station.password == NEW_PASSWORD
        await wait_until(lambda: station.security.shared.previous_password is None, what="kept")
        assert await station.journal.get_setting("security/password_previous") is None


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def network_profile(url: str, security_profile: int = 1) -> dict[str, object]:
    return {
        "ocppVersion": "OCPP20",
        "ocppTransport": "JSON",
        "ocppCsmsUrl": url,
        "messageTimeout": 30,
        "securityProfile": security_profile,
        "ocppInterface": "Wired0",
    }


async def test_set_network_profile_unreachable_falls_back_to_the_previous(
    config_dir, start_station
) -> None:
    """B09 + B10: a new profile first in NetworkConfigurationPriority that cannot connect:
    after NetworkProfileConnectionAttempts failures the station is back on slot 1."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        dead = f"ws://127.0.0.1:{free_port()}/ocpp"
        answer = await csms.call(
            STATION,
            "SetNetworkProfile",
            {"configurationSlot": 2, "connectionData": network_profile(dead)},
        )
        assert answer["status"] == "Accepted"
        result = await csms.set_variables(
            STATION,
            ("OCPPCommCtrlr", "NetworkConfigurationPriority", "2,1"),
            ("OCPPCommCtrlr", "NetworkProfileConnectionAttempts", "2"),
        )
        assert [r["attributeStatus"] for r in result["setVariableResult"]] == [
            "Accepted",
            "Accepted",
        ]
        station = hub.data["ocpp201"]
        await csms.drop()  # the next connection uses the new priority
        await wait_until(lambda: station.url.startswith(dead), what="slot 2 tried")
        await csms.wait_until(lambda: len(accepted_attempts(csms)) >= 2, 10, "back on slot 1")
        assert station.url == csms.url(STATION)
        assert station.security.network.current().slot == 1


async def test_set_network_profile_moves_to_a_new_csms(config_dir, start_station) -> None:
    async with (
        OcppCsms(passwords={STATION: PASSWORD}) as old,
        OcppCsms(passwords={STATION: PASSWORD}) as new,
    ):
        await start_station(config_dir(station_yaml(old.url())))
        await old.wait_for("BootNotification")
        answer = await old.call(
            STATION,
            "SetNetworkProfile",
            {"configurationSlot": 3, "connectionData": network_profile(new.url())},
        )
        assert answer["status"] == "Accepted"
        await old.set_variables(STATION, ("OCPPCommCtrlr", "NetworkConfigurationPriority", "3,1"))
        await old.drop()
        boot = (await new.wait_for("BootNotification", timeout=8))[0]
        assert boot.station_id == STATION


async def test_set_network_profile_refuses_a_lower_security_profile(
    config_dir, start_station, tmp_path
) -> None:
    """A05 / B09: a station that connected with profile 2 never goes down to profile 1."""
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(
        passwords={STATION: PASSWORD}, ssl_context=pki.server_context(require_client=False)
    ) as csms:
        await start_station(config_dir(station_yaml(csms.url(), ca_file=pki.root_file)))
        await csms.wait_for("BootNotification")
        lower = await csms.call(
            STATION,
            "SetNetworkProfile",
            {"configurationSlot": 2, "connectionData": network_profile("ws://127.0.0.1:1/x")},
        )
        assert lower["status"] == "Rejected"
        no_cert = await csms.call(
            STATION,
            "SetNetworkProfile",
            {"configurationSlot": 2, "connectionData": network_profile(csms.url(), 3)},
        )
        assert no_cert["status"] == "Rejected"  # profile 3 without a station certificate
        same = await csms.call(
            STATION,
            "SetNetworkProfile",
            {"configurationSlot": 2, "connectionData": network_profile(csms.url(), 2)},
        )
        assert same["status"] == "Accepted"


async def test_failed_login_at_the_station_api_is_a_security_event(
    config_dir, start_station
) -> None:
    """A wrong token at the station's own HTTP API: the http component says so on the
    bus, ocpp201 queues a SecurityEventNotification (never the token)."""
    import aiohttp

    port = free_port()
    wrong = "wrong-token-abcdefghijklmnop"
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        yaml = (
            station_yaml(csms.url()) + f"http:\n  server_host: 127.0.0.1\n  server_port: {port}\n"
        )
        await start_station(config_dir(yaml))
        await csms.wait_for("BootNotification")
        async with aiohttp.ClientSession() as session:
            async with session.get(
                f"http://127.0.0.1:{port}/api/states",
                headers={"Authorization": f"Bearer {wrong}"},
            ) as response:
                assert response.status == 401
        event = (
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
        )[0].payload
        assert event["type"] == "FailedLoginAtStationApi"
        assert "/api/states" in event["techInfo"] and "127.0.0.1" in event["techInfo"]
        assert all(wrong not in m.raw for m in csms.messages)


async def test_sign_certificate_repeated_while_no_certificate_comes(
    config_dir, start_station
) -> None:
    """A02: SignCertificate Accepted but no CertificateSigned within
    CertSigningWaitMinimum: sent again (with a new CSR), at most CertSigningRepeatTimes."""
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        await csms.set_variables(
            STATION,
            ("SecurityCtrlr", "CertSigningWaitMinimum", "1"),
            ("SecurityCtrlr", "CertSigningRepeatTimes", "1"),
        )
        await csms.trigger_message(STATION, "SignChargingStationCertificate")
        first, second = await csms.wait_for("SignCertificate", count=2, timeout=4)
        assert second.mono - first.mono >= 1.0
        assert first.payload["csr"] != second.payload["csr"]  # a new key pair each time
        await asyncio.sleep(2.5)  # the doubled wait (2 s) ran out: no third request
        assert len(csms.received("SignCertificate")) == 2


async def test_a04_certificate_close_to_expiry_is_renewed(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        client = pki.client_files(STATION)
        await start_station(config_dir(profile3_yaml(csms.url(), pki, client)))
        await csms.wait_for("BootNotification")
        await csms.trigger_message(STATION, "SignChargingStationCertificate")
        csr = (await csms.wait_for("SignCertificate"))[0].payload["csr"]
        short = pki.sign_csr(csr, days=2)  # within certificate_renew_days (30)
        await csms.call(
            STATION,
            "CertificateSigned",
            {"certificateChain": short, "certificateType": "ChargingStationCertificate"},
        )
        # reconnected with it, the station asks for a new one on its own (A04)
        requests = await csms.wait_for("SignCertificate", count=2, timeout=8)
        assert requests[1].payload["csr"] != csr
        assert len(accepted_attempts(csms, STATION)) >= 2


async def test_untrusted_csms_certificate_is_a_journaled_security_event(
    config_dir, start_station, tmp_path
) -> None:
    """InvalidCsmsCertificate: queued in the journal (no link to send it over yet; the
    journal delivers it once one is up, after a restart too)."""
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(
        passwords={STATION: PASSWORD}, ssl_context=pki.server_context(require_client=False)
    ) as csms:
        hub, _ = await start_station(config_dir(station_yaml(csms.url())))
        station = hub.data["ocpp201"]

        async def queued() -> list[str]:
            return [e.payload["type"] for e in await station.journal.pending()]

        for _ in range(50):
            if "InvalidCsmsCertificate" in await queued():
                break
            await asyncio.sleep(0.1)
        assert "InvalidCsmsCertificate" in await queued()
        assert not csms.received()


def test_check_config_names_the_security_problems(tmp_path) -> None:
    """check-config (validate_config) sees what the schema cannot: TLS profiles on ws://,
    a certificate without its key, missing files, profile 3 without any certificate."""
    from components.ocpp201 import CONFIG_SCHEMA, validate_config

    def problems(**options: object) -> list[str]:
        return validate_config(str(tmp_path), CONFIG_SCHEMA({"station_id": STATION, **options}))

    # (values built here carry no line: the file alone; tests/orge/test_missing_files.py
    # holds the lines of a real configuration.yaml)
    at = "Invalid config for 'ocpp201' at configuration.yaml: "
    assert problems(url="ws://csms/ocpp", security_profile=2) == [
        at + "security_profile 2 needs a wss:// URL (TLS), not ws://csms/ocpp"
    ]
    assert problems(url="wss://csms/ocpp", security_profile=3, client_certificate="c.pem") == [
        at + "client_certificate and client_key must be given together",
        at + "client_certificate file c.pem not found",
    ]
    assert problems(url="wss://csms/ocpp", security_profile=3) == [
        at + "security_profile 3 needs client_certificate and client_key (the station "
        "certificate; none was installed by the CSMS either)"
    ]
    (tmp_path / "c.pem").write_text("x")
    (tmp_path / "k.pem").write_text("x")
    assert problems(url="wss://csms/ocpp", client_certificate="c.pem", client_key="k.pem") == []
    assert problems(url="ws://csms/ocpp") == []


async def test_tc_l_05_firmware_signing_certificate_not_from_the_manufacturer_root(
    config_dir, start_station, tmp_path
) -> None:
    """L01 / TC_L_05_CS: with a ManufacturerRootCertificate installed, a signing
    certificate it did not issue gets InvalidCertificate and the security event
    InvalidFirmwareSigningCertificate; one it issued is not refused for its certificate."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pki = CsmsPki(str(tmp_path / "a"))
    other = CsmsPki(str(tmp_path / "b"))
    async with OcppCsms(passwords={STATION: PASSWORD}) as csms:
        await start_station(config_dir(station_yaml(csms.url())))
        await csms.wait_for("BootNotification")
        installed = await csms.call(
            STATION,
            "InstallCertificate",
            {"certificateType": "ManufacturerRootCertificate", "certificate": pki.root_pem},
        )
        assert installed["status"] == "Accepted"

        def update(request_id: int, signer: CsmsPki) -> dict[str, object]:
            return {
                "requestId": request_id,
                "firmware": {
                    "location": "https://127.0.0.1:1/orge-9.9.9-py3-none-any.whl",
                    "retrieveDateTime": "2026-01-01T00:00:00Z",
                    "signingCertificate": open(signer.client_files("FW-SIGNER")[0]).read(),
                    "signature": "c2lnbmF0dXJl",
                },
            }

        refused = await csms.call(STATION, "UpdateFirmware", update(1, other))
        assert refused["status"] == "InvalidCertificate"
        event = (
            await csms.wait_for(
                "SecurityEventNotification", where=lambda p: p["type"] != "StartupOfTheDevice"
            )
        )[0].payload
        assert event["type"] == "InvalidFirmwareSigningCertificate"
        assert not csms.received("FirmwareStatusNotification")
        trusted = await csms.call(STATION, "UpdateFirmware", update(2, pki))
        assert trusted["status"] != "InvalidCertificate"


async def test_tc_l_18_unsigned_firmware_refused_under_profile_3(
    config_dir, start_station, tmp_path
) -> None:
    pki = CsmsPki(str(tmp_path))
    async with OcppCsms(ssl_context=pki.server_context(require_client=True)) as csms:
        client = pki.client_files(STATION)
        await start_station(config_dir(profile3_yaml(csms.url(), pki, client)))
        await csms.wait_for("BootNotification")
        answer = await csms.call(
            STATION,
            "UpdateFirmware",
            {
                "requestId": 1,
                "firmware": {
                    "location": "https://127.0.0.1:1/orge-9.9.9-py3-none-any.whl",
                    "retrieveDateTime": "2026-01-01T00:00:00Z",
                },
            },
        )
        assert answer["status"] == "Rejected"
        assert not csms.received("FirmwareStatusNotification")
