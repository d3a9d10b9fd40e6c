/*
 * microd dashboard behaviour. Every page works without this file; it adds
 * live updates from /events, the services filter, and the call form's
 * fetch. Pages are rendered by the daemon only: a live region is refreshed
 * by fetching the page again and swapping the region, so markup and its
 * escaping live in one place (web/*.c). No innerHTML of feed data.
 */
"use strict";

(function () {
	var live = document.getElementById("live");
	var regions = document.querySelectorAll("[data-live]");
	var generation = null, previous = {}, refreshing = false;

	function setLive(state, text) {
		if (!live)
			return;
		live.hidden = false;
		live.dataset.state = state;
		live.textContent = text;
	}

	/*
	 * Enter sends the filter to the server (?q=, web/pages.c), which
	 * must show the rows shown while typing: trim and fold case as it
	 * does, ASCII only (toLowerCase and trim know Unicode, C does not).
	 */
	function fold(s) {
		return s.replace(/[A-Z]/g, function (c) {
			return c.toLowerCase();
		});
	}

	function applyFilter() {
		var input = document.querySelector("input[data-filter]");
		var table, q, rows, i, shown = 0;

		if (!input)
			return;
		table = document.getElementById(input.dataset.filter);
		if (!table)
			return;
		q = fold(input.value.replace(/^[ \t\r\n]+|[ \t\r\n]+$/g, ""));
		rows = table.tBodies[0].rows;
		for (i = 0; i < rows.length; i++) {
			var name = fold(rows[i].dataset.name || "");
			rows[i].hidden = q !== "" && name.indexOf(q) < 0;
			if (!rows[i].hidden)
				shown++;
		}
		var count = table.parentNode.querySelector(".count");
		if (count)
			count.textContent = shown + " of " + rows.length +
			    " services";
	}

	/* Fetch this page again and swap its live regions. */
	function refresh() {
		if (refreshing)
			return;
		refreshing = true;
		fetch(location.href, { headers: { Accept: "text/html" } })
		    .then(function (r) { return r.text(); })
		    .then(function (html) {
			var doc = new DOMParser().parseFromString(html,
			    "text/html");
			regions.forEach(function (el) {
				var fresh = doc.getElementById(el.id);
				if (fresh)
					el.replaceChildren.apply(el,
					    Array.from(fresh.childNodes));
			});
			applyFilter();
		    })
		    .finally(function () { refreshing = false; });
	}

	function wants(kind) {
		return Array.prototype.some.call(regions, function (el) {
			return el.dataset.live === kind;
		});
	}

	/* Counters in place; req/s from the previous snapshot. */
	function updateWorkers(snap) {
		var seen = 0, rows = document.querySelectorAll("tr[data-key]");
		var now = {}, missing = false;

		snap.workers.forEach(function (w) {
			var key = w.slot + ":" + w.pid;
			var row = document.querySelector(
			    'tr[data-key="' + key + '"]');
			var prev = previous[key];

			now[key] = { requests: w.requests, t: snap.time_ms };
			if (!row) {
				missing = true;
				return;
			}
			seen++;
			["requests", "errors", "connections"].forEach(function (f) {
				var cell = row.querySelector(
				    '[data-field="' + f + '"]');
				if (cell)
					cell.textContent = String(w[f]);
			});
			var cell = row.querySelector('[data-field="rate"]');
			if (cell && prev && snap.time_ms > prev.t)
				cell.textContent = ((w.requests - prev.requests) *
				    1000 / (snap.time_ms - prev.t)).toFixed(1);
		});
		previous = now;
		if (missing || seen !== rows.length)
			refresh();
	}

	function onSnapshot(ev) {
		var snap = JSON.parse(ev.data);

		setLive("live", "Live");
		if (snap.version !== 1)
			return;
		if (generation !== null && snap.generation !== generation &&
		    wants("services"))
			refresh();
		generation = snap.generation;
		if (wants("workers"))
			updateWorkers(snap);
	}

	function connect() {
		var es = new EventSource("/events");

		es.addEventListener("snapshot", onSnapshot);
		es.onerror = function () { setLive("offline", "Reconnecting"); };
	}

	function callForm() {
		var form = document.getElementById("call");
		var pick = document.querySelector("select[data-autosubmit]");

		if (pick) {
			pick.addEventListener("change", function () {
				pick.form.submit();
			});
			document.querySelectorAll(".noscript").forEach(
			    function (b) { b.hidden = true; });
		}
		if (!form)
			return;
		var endpoint = form.elements.method;
		var request = form.elements.request;
		endpoint.addEventListener("change", function () {
			var opt = endpoint.options[endpoint.selectedIndex];
			request.value = opt.dataset.template || "{}";
		});
		form.addEventListener("submit", function (e) {
			e.preventDefault();
			send(form);
		});
	}

	function show(status, ok, ms, text) {
		var result = document.getElementById("result");

		result.hidden = false;
		result.dataset.ok = String(ok);
		document.getElementById("status").textContent = status;
		document.getElementById("latency").textContent =
		    ms === null ? "–" : ms.toFixed(1) + " ms";
		document.getElementById("response").textContent = text;
	}

	function pretty(text) {
		try {
			return JSON.stringify(JSON.parse(text), null, 2);
		} catch (e) {
			return text;
		}
	}

	function send(form) {
		var req, t0;

		try {
			req = JSON.parse(form.elements.request.value || "{}");
		} catch (e) {
			show("invalid JSON", false, null, e.message);
			return;
		}
		t0 = performance.now();
		fetch("/rpc", {
			method: "POST",
			headers: { "Content-Type": "application/json" },
			body: JSON.stringify({
				service: form.elements.service.value,
				endpoint: form.elements.method.value,
				request: req
			})
		}).then(function (r) {
			return r.text().then(function (text) {
				show(r.status + " " + r.statusText, r.ok,
				    performance.now() - t0, pretty(text));
			});
		}).catch(function (e) {
			show("failed", false, null, String(e));
		});
	}

	document.addEventListener("DOMContentLoaded", function () {
		var input = document.querySelector("input[data-filter]");

		if (input)
			input.addEventListener("input", applyFilter);
		applyFilter();
		callForm();
		if (regions.length && window.EventSource)
			connect();
	});
})();
