/// The console's page: static HTML and script that render ``ConsoleState`` objects received from
/// `/console/events` (server-sent events; the browser reconnects by itself when the node restarts).
enum ConsolePage {
    static let html = #"""
    <!doctype html>
    <html lang="en">
    <head>
    <meta charset="utf-8">
    <title>Almanac console</title>
    <style>
      body { font-family: system-ui, sans-serif; margin: 1.2rem; color: #1d2330; background: #f6f7f9; }
      h1 { font-size: 1.3rem; margin: 0 0 .3rem 0; }
      h2 { font-size: 1rem; margin: 0 0 .5rem 0; }
      #meta { color: #555; font-size: .85rem; margin-bottom: 1rem; }
      #connection.live { color: #137333; } #connection.lost { color: #b3261e; font-weight: bold; }
      .grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(360px, 1fr)); gap: 1rem; }
      section { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: .8rem 1rem; }
      table { border-collapse: collapse; width: 100%; font-size: .85rem; }
      th, td { text-align: left; padding: .2rem .4rem; border-bottom: 1px solid #eef0f3; }
      th { color: #555; font-weight: 600; }
      .healthy, .alive, .leader { color: #137333; font-weight: 600; }
      .degraded, .suspect, .candidate { color: #b06000; font-weight: 600; }
      .down, .unknown { color: #b3261e; font-weight: 600; }
      .bar { background: #d93025; height: .6rem; display: inline-block; border-radius: 2px; vertical-align: middle; }
      .bar.reads { background: #1a73e8; }
      .placeholder { color: #666; font-style: italic; }
      .error { color: #b3261e; }
    </style>
    </head>
    <body>
    <h1>Almanac console</h1>
    <div id="meta">served by node <span id="served-by">?</span> · updated <span id="updated">never</span> ·
      <span id="connection">connecting…</span> <span id="error" class="error"></span></div>
    <div class="grid">
      <section><h2>Zones</h2>
        <table id="zones"><thead><tr><th>zone</th><th>health</th><th>nodes</th></tr></thead><tbody></tbody></table></section>
      <section><h2>Nodes</h2>
        <table id="nodes"><thead><tr><th>node</th><th>zone</th><th>health</th><th>last heard</th><th>client API</th></tr></thead><tbody></tbody></table></section>
      <section><h2>Shards</h2>
        <table id="shards"><thead><tr><th>shard</th><th>leader</th><th>segments</th><th>term</th><th>commit</th><th>applied</th><th>replicas</th></tr></thead><tbody></tbody></table></section>
      <section><h2>Heat per segment</h2><div id="heat-note" class="placeholder"></div>
        <table id="heat"><thead><tr><th>segment</th><th>shard</th><th>reads</th><th>writes</th><th></th></tr></thead><tbody></tbody></table></section>
      <section><h2>Placement controller</h2><div id="controller"></div></section>
      <section><h2>Forecast vs actual load</h2><div id="forecast"></div></section>
      <section><h2>Moves in flight</h2><div id="moves"></div></section>
      <section><h2>Decision audit</h2><div id="audit"></div></section>
    </div>
    <script>
    "use strict";
    const $ = (id) => document.getElementById(id);
    function cell(text, cls) { const td = document.createElement("td"); td.textContent = text; if (cls) td.className = cls; return td; }
    function fill(table, rows, build) {
      const body = $(table).tBodies[0];
      body.replaceChildren(...rows.map((row) => { const tr = document.createElement("tr"); build(tr, row); return tr; }));
    }
    function table(headers, rows) {
      const t = document.createElement("table");
      const head = t.createTHead().insertRow();
      headers.forEach((h) => { const th = document.createElement("th"); th.textContent = h; head.appendChild(th); });
      const body = t.createTBody();
      rows.forEach((r) => { const tr = body.insertRow(); r.forEach((v) => tr.appendChild(cell(String(v)))); });
      return t;
    }
    // A pane of the placement control plane: its rows when the state carries them, else an honest note.
    function pane(id, rows, headers, toRow, none) {
      const el = $(id);
      if (!rows) { el.replaceChildren(Object.assign(document.createElement("div"), { className: "placeholder", textContent: none })); return; }
      if (rows.length === 0) { el.replaceChildren(Object.assign(document.createElement("div"), { className: "placeholder", textContent: "none" })); return; }
      el.replaceChildren(table(headers, rows.map(toRow)));
    }
    function render(s) {
      $("served-by").textContent = s.servedBy;
      $("updated").textContent = new Date(s.generatedAt).toLocaleTimeString();
      $("error").textContent = s.error || "";
      const zoneOf = {}; (s.nodes || []).forEach((n) => { zoneOf[n.id] = n.zone; });
      fill("zones", s.zones || [], (tr, z) => { tr.dataset.zone = z.name;
        tr.append(cell(z.name), cell(z.health, "health " + z.health), cell(z.nodes.join(", "))); });
      fill("nodes", s.nodes || [], (tr, n) => { tr.dataset.node = n.id;
        tr.append(cell(n.id), cell(n.zone), cell(n.id === s.servedBy ? "alive (this node)" : n.health, "health " + (n.id === s.servedBy ? "alive" : n.health)),
                  cell(n.id === s.servedBy ? "-" : (n.lastHeardMs / 1000).toFixed(1) + " s ago"), cell(n.clientAddress)); });
      fill("shards", s.shards || [], (tr, sh) => { tr.dataset.shard = sh.id; tr.dataset.leader = sh.leader; tr.dataset.segments = sh.segments;
        tr.append(cell(sh.id), cell(sh.leader ? "node " + sh.leader + " (" + (zoneOf[sh.leader] || "?") + ")" : "none", sh.leader ? "leader" : "down"),
                  cell(sh.segments < 0 ? "?" : sh.segments), cell(sh.term), cell(sh.commitIndex), cell(sh.appliedIndex),
                  cell(sh.replicas.map((r) => r.node + ":" + r.role).join(" "))); });
      const heat = s.heat || { segments: [], nodesCounted: [], windowSeconds: 0 };
      const top = heat.segments.slice(0, 16);
      const max = Math.max(1, ...top.map((g) => g.reads + g.writes));
      $("heat-note").textContent = heat.segments.length === 0 ? "no access counted yet" :
        heat.segments.length + " segments with traffic over the last " + Math.round(heat.windowSeconds / 60) +
        " min, counted by nodes " + heat.nodesCounted.join(", ") + (heat.segments.length > top.length ? " (hottest " + top.length + " shown)" : "");
      fill("heat", top, (tr, g) => { tr.dataset.segment = g.segment;
        const bars = document.createElement("td");
        [["reads", g.reads], ["writes", g.writes]].forEach(([kind, v]) => {
          const b = document.createElement("span"); b.className = "bar " + kind; b.style.width = (120 * v / max) + "px"; b.title = kind + " " + v; bars.appendChild(b); });
        tr.append(cell(g.segment), cell(g.shard), cell(g.reads), cell(g.writes), bars); });
      $("controller").textContent = s.controller || "No placement controller on this node (no shard map store).";
      pane("forecast", s.forecast, ["segment", "shard", "forecast", "actual", "next bucket"],
           (f) => [f.segment, f.shard, f.forecast.toFixed(1), f.actual.toFixed(1), f.next.toFixed(1)],
           s.forecastNote || "No placement controller: no forecasts.");
      pane("moves", s.moves, ["move", "what", "from", "to", "phase", "since"], (m) => [m.kind, m.subject, m.from, m.to, m.phase, m.since],
           "No placement controller: no moves shown.");
      pane("audit", s.audit, ["at", "decision", "reason"], (a) => [a.at, a.decision, a.reason],
           "No placement controller: no decisions.");
    }
    const events = new EventSource("/console/events");
    events.onopen = () => { $("connection").textContent = "live"; $("connection").className = "live"; };
    events.onerror = () => { $("connection").textContent = "connection lost, retrying"; $("connection").className = "lost"; };
    events.onmessage = (e) => { $("connection").textContent = "live"; $("connection").className = "live"; render(JSON.parse(e.data)); };
    </script>
    </body>
    </html>
    """#
}
