"""The dashboard's JSON endpoints and its HTTP guards, on a SQLite table (no database server),
through the real server bound to 127.0.0.1 on a free port: views, paging and sorting, CSV,
curves, bad query values (400 with one line), the token, --read-only and the Host check."""
from __future__ import annotations

import csv
import http.client
import io
import json

import pytest

from jobstore import status as st
from jobstore.store import open_db
from tests.helpers.dashboard import SCRIPT_KEY, SCRIPT_VALUE, fill, running_server, small_search


@pytest.fixture
def url(tmp_path):
    return f"sqlite:///{tmp_path}/jobs.db?table=jobs"


def request(server, method, path, body=None, headers=None):
    host, port = server.server_address[:2]
    conn = http.client.HTTPConnection(host, port, timeout=10)
    conn.request(method, path, body=json.dumps(body) if body is not None else None, headers=headers or {})
    r = conn.getresponse()
    data = r.read()
    conn.close()
    ctype = r.getheader("Content-Type")
    return r.status, json.loads(data) if ctype == "application/json" else data.decode(), r


def test_views_answer_what_the_table_holds(url):
    ids = fill(url, n_done=12, n_start=3)
    with running_server(url) as server:
        code, doc, _ = request(server, "GET", "/api/overview")
        assert code == 200 and doc["counts"] == {"START": 3, "DONE": 12}
        assert sum(n for _, s, n in doc["timeline"] if s == "DONE") == 12
        last = max(t for t, _, _ in doc["timeline"])
        code, doc, _ = request(server, "GET", f"/api/overview?since={last + 60}")  # a refresh: nothing new
        assert doc["counts"]["DONE"] == 12 and doc["timeline"] == []
        code, doc, _ = request(server, "GET", f"/api/overview?since={last}")  # its last bucket again
        assert [t for t, _, _ in doc["timeline"]] == [last]
        code, doc, _ = request(server, "GET", "/api/jobs?limit=5&offset=10&sort=lr&desc=1")
        assert doc["total"] == 15 and [r["id"] for r in doc["rows"]] == ids[10:15]
        code, doc, _ = request(server, "GET", "/api/jobs?status=START&where=n_hidden=30")
        assert [r["id"] for r in doc["rows"]] == [i for i in ids[12:] if (ids.index(i) % 4) == 2]
        code, doc, _ = request(server, "GET", f"/api/curves?ids={ids[0]},{ids[1]}&name=valid_loss")
        assert [len(doc["series"][str(i)]["step"]) for i in ids[:2]] == [5, 5]
        code, doc, _ = request(server, "GET", "/api/params")
        assert doc["objective"] == "best_validation_loss" and "lr" in doc["keys"] and len(doc["ids"]) == 12
        code, text, r = request(server, "GET", "/api/jobs.csv?status=DONE")
        rows = list(csv.DictReader(io.StringIO(text)))
        assert code == 200 and len(rows) == 12 and r.getheader("Content-Disposition").startswith("attachment")
        assert rows[0][SCRIPT_KEY] == SCRIPT_VALUE  # the CSV carries values as they are


def test_searches_give_their_trials_in_creation_order(url):
    """Each search's jobs in id order with their status and objective (DONE only; failed trials
    carry none), one search per entry; ``after`` gives only the jobs above that id."""
    fill(url, n_done=2)
    values = {1: 0.5, 2: None, 3: 0.7, 4: 0.2}
    ids = small_search(url, values)
    with running_server(url) as server:
        code, doc, _ = request(server, "GET", "/api/searches")
        assert code == 200 and doc["truncated"] is False and len(doc["searches"]) == 1
        s = doc["searches"][0]
        assert (s["name"], s["objective"], s["direction"], s["budget"]) == (SCRIPT_VALUE, "loss", "minimize", 4)
        with open_db(url) as db:
            want = [values[db.get(i).state["x"]] for i in ids]  # the grid's order is shuffled by its seed
        assert s["job"] == ids and s["value"] == want
        assert s["status"] == ["ERR_RUN" if v is None else "DONE" for v in want]
        code, doc, _ = request(server, "GET", f"/api/searches?after={ids[1]}")  # a refresh: the later trials
        assert [t for s in doc["searches"] for t in s["job"]] == ids[2:]
        code, doc, _ = request(server, "GET", "/api/searches?after=-1")
        assert code == 400 and "bad after '-1'" in doc["error"]


def test_no_search_registered_is_an_empty_list(url):
    fill(url, n_done=1)
    with running_server(url) as server:
        assert request(server, "GET", "/api/searches")[1]["searches"] == []


def test_the_page_and_its_assets_are_served_from_the_package(url):
    fill(url, n_done=1)
    with running_server(url) as server:
        code, page, r = request(server, "GET", "/")
        assert code == 200 and '<script src="uPlot.iife.min.js">' in page
        assert "script-src" not in r.getheader("Content-Security-Policy") and "default-src 'self'" in r.getheader(
            "Content-Security-Policy")
        for asset in ("app.js", "app.css", "uPlot.iife.min.js", "uPlot.min.css"):
            assert request(server, "GET", "/" + asset)[0] == 200
        assert request(server, "GET", "/../server.py")[0] == 404
        assert request(server, "GET", "/uPlot.LICENSE")[0] == 404  # only the page's own file types


@pytest.mark.parametrize("path, message", [
    ("/api/jobs?sort=nope", "unknown sort key 'nope'"),
    ("/api/jobs?limit=100000", "page offset 0 / limit 100000"),
    ("/api/jobs?offset=x", "bad offset 'x'"),
    ("/api/jobs?status=DONEE", "DONEE"),
    ("/api/jobs?where=novalue", "bad filter 'novalue'"),
    ("/api/curves?ids=1,a&name=loss", "bad ids '1,a'"),
    ("/api/params?objective=zz", "unknown objective 'zz'"),
    ("/api/nothing", "unknown view"),
])
def test_bad_query_values_are_one_line_errors(url, path, message):
    fill(url, n_done=2)
    with running_server(url) as server:
        code, doc, _ = request(server, "GET", path)
        assert code in (400, 404) and message in doc["error"] and "\n" not in doc["error"]


def test_actions_need_the_token(url):
    ids = fill(url, n_done=1, n_start=2)
    with running_server(url) as server:
        body = {"action": "cancel", "ids": [ids[1]]}
        for headers in ({}, {"X-Jobman-Token": "guess"}):
            code, doc, _ = request(server, "POST", "/api/action", body, headers)
            assert code == 403 and "token" in doc["error"]
        with open_db(url) as db:
            assert db.get(ids[1]).status == st.START  # nothing written
        ok = {"X-Jobman-Token": server.token}
        assert request(server, "POST", "/api/action", body, ok)[1] == {"action": "cancel", "changed": 1}
        assert request(server, "POST", "/api/action", {"action": "priority", "ids": [ids[2]], "priority": 7.5},
                       ok)[1]["changed"] == 1
        assert request(server, "POST", "/api/action", {"action": "requeue", "ids": [ids[1]]}, ok)[1]["changed"] == 1
        code, doc, _ = request(server, "POST", "/api/action", {"action": "delete", "ids": [1]}, ok)
        assert code == 400 and "unknown action 'delete'" in doc["error"]
        code, doc, _ = request(server, "POST", "/api/action", {"action": "cancel", "ids": ["1; drop"]}, ok)
        assert code == 400 and "bad ids" in doc["error"]
        with open_db(url) as db:
            assert db.get(ids[1]).status == st.START and db.get(ids[2]).priority == 7.5


def test_read_only_refuses_every_action_even_with_the_token(url):
    ids = fill(url, n_done=0, n_start=1)
    with running_server(url, read_only=True) as server:
        code, doc, _ = request(server, "POST", "/api/action", {"action": "cancel", "ids": ids},
                               {"X-Jobman-Token": server.token})
        assert code == 403 and "read-only" in doc["error"]
        assert request(server, "GET", "/api/config")[1]["read_only"] is True
    with open_db(url) as db:
        assert db.get(ids[0]).status == st.START


def test_another_host_name_is_refused(url):
    fill(url, n_done=1)
    with running_server(url) as server:
        code, doc, _ = request(server, "GET", "/api/overview", headers={"Host": "attacker.example:80"})
        assert code == 403 and "unexpected Host 'attacker.example'" in doc["error"]
        assert request(server, "GET", "/api/overview", headers={"Host": "localhost:9999"})[0] == 200


def test_the_command_binds_loopback_by_default_and_rejects_a_bad_port(tmp_path, capsys):
    from jobstore.cli import main
    from jobstore.cli.dashboard import build_parser

    assert build_parser("jobman dashboard").parse_args(["sqlite:///x.db"]).host == "127.0.0.1"
    assert main(["dashboard", f"sqlite:///{tmp_path}/jobs.db?table=jobs", "--port", "70000"]) == 2
    assert capsys.readouterr().err == "jobman dashboard: error: bad --port 70000: expected 0 to 65535\n"
    assert not (tmp_path / "jobs.db").exists()  # nothing written
