import pytest

from shared.config import ServiceSettings, load_settings


def test_bad_setting_stops_start_up_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TNS_DATABASE_URL", "mysql://nope")
    monkeypatch.setenv("TNS_KAFKA_BOOTSTRAP_SERVERS", "no-port-here")
    with pytest.raises(SystemExit) as exc:
        load_settings(ServiceSettings)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "TNS_DATABASE_URL" in err
    assert "TNS_KAFKA_BOOTSTRAP_SERVERS" in err


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TNS_KAFKA_BOOTSTRAP_SERVERS", "kafka-0:9092,kafka-1:9092")
    monkeypatch.setenv("TNS_TOPIC_NAMESPACE", "eu.")
    s = load_settings(ServiceSettings)
    assert s.kafka_bootstrap_servers == "kafka-0:9092,kafka-1:9092"
    assert s.group_id == "eu.tns-tns"
