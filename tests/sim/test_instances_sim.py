from joytui.sim.instances import DEMO_API_KEY
from tests.conftest import advance, set_faults

KEY = {"X-API-Key": DEMO_API_KEY}


def test_list_needs_a_key(sim_http):
    assert sim_http.get("/api/instances").status_code == 401
    assert sim_http.get("/api/instances", headers={"X-API-Key": "nope"}).status_code == 401


def test_lifecycle(sim_http):
    r = sim_http.post("/api/instances", json={"name": "my-bot", "region": "eu-west-1"}, headers=KEY)
    assert r.status_code == 201
    inst = r.json()
    assert inst["status"] == "creating" and inst["name"] == "my-bot"
    assert set(inst["health"]) == {
        "cpu_percent",
        "memory_mb",
        "disk_mb",
        "last_heartbeat",
        "uptime_secs",
    }
    advance(sim_http, 10)
    assert sim_http.get(f"/api/instances/{inst['id']}", headers=KEY).json()["status"] == "running"
    r = sim_http.post(f"/api/instances/{inst['id']}/pause", headers=KEY)
    assert r.json() == {"status": "paused"}
    r = sim_http.post(f"/api/instances/{inst['id']}/restart", headers=KEY)
    assert r.json() == {"status": "restarted"}
    assert (
        sim_http.get(f"/api/instances/{inst['id']}", headers=KEY).json()["status"] == "restarting"
    )
    advance(sim_http, 10)
    health = sim_http.get(f"/api/instances/{inst['id']}/health", headers=KEY).json()
    assert health["uptime_secs"] >= 0 and health["memory_mb"] > 0
    assert sim_http.delete(f"/api/instances/{inst['id']}", headers=KEY).status_code == 204
    assert sim_http.get(f"/api/instances/{inst['id']}", headers=KEY).status_code == 404
    assert sim_http.delete(f"/api/instances/{inst['id']}", headers=KEY).status_code == 404


def test_html_500_fault(sim_http):
    set_faults(sim_http, instances={"error_rate": 1.0})
    r = sim_http.get("/api/instances", headers=KEY)
    assert r.status_code == 500 and r.headers["content-type"].startswith("text/html")
    sim_http.delete("/__sim__/faults")
    assert sim_http.get("/api/instances", headers=KEY).status_code == 200
