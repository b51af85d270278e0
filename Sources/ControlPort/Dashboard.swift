/// The dashboard served at `GET /`: one page, its script (`Dashboard+Script.swift`) and style, all compiled into the
/// binary; the charting library (dygraphs) comes from the head node's Debian package (`DashboardAssets`). Every URL it
/// loads is a path on the control port itself, so it works on a machine with no internet; the page polls `/status`,
/// `/history` and `/attention` and redraws.
public enum Dashboard {
    /// The HTML. Elements with ids are what the script fills; the tests read `fig-*` and `chart-*` back from a
    /// headless browser's DOM.
    public static let page = #"""
        <!DOCTYPE html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <meta name="viewport" content="width=device-width, initial-scale=1">
        <title>mugs dashboard</title>
        <link rel="stylesheet" href="/assets/dygraph.css">
        <link rel="stylesheet" href="/dashboard.css">
        <script src="/assets/dygraph.js" defer></script>
        <script src="/dashboard.js" defer></script>
        </head>
        <body>
        <header>
          <h1>mugs <span id="fig-job">…</span></h1>
          <span id="fig-state" class="state">connecting</span>
          <span class="actions">
            <button type="button" data-action="checkpoint">checkpoint</button>
            <button type="button" data-action="pause">pause</button>
            <button type="button" data-action="resume">resume</button>
            <button type="button" data-action="stop">stop</button>
          </span>
        </header>
        <p id="banner" class="banner" hidden></p>
        <p id="action-result" class="note"></p>
        <section class="figures">
          <div><b>step</b><span id="fig-step">–</span></div>
          <div><b>epoch</b><span id="fig-epoch">–</span></div>
          <div><b>total loss</b><span id="fig-loss">–</span></div>
          <div><b>lr</b><span id="fig-lr">–</span></div>
          <div><b>throughput</b><span id="fig-ips">–</span></div>
          <div><b>ETA</b><span id="fig-eta">–</span></div>
          <div><b>generation</b><span id="fig-generation">–</span></div>
          <div><b>last checkpoint</b><span id="fig-checkpoint">–</span></div>
          <div><b>online kNN</b><span id="fig-knn">–</span></div>
        </section>
        <section class="charts">
          <figure><figcaption>loss by granularity (x: step)</figcaption>
            <div id="chart-loss" class="chart"></div></figure>
          <figure><figcaption>learning rate and weight decay (x: step)</figcaption>
            <div id="chart-lr" class="chart"></div></figure>
          <figure><figcaption>teacher momentum and temperature (x: step)</figcaption>
            <div id="chart-momentum" class="chart"></div></figure>
          <figure><figcaption>throughput and ring size (x: time; marks: joins, leaves, evictions, aborts)</figcaption>
            <div id="chart-throughput" class="chart"></div></figure>
          <figure><figcaption>online kNN accuracy, % (x: step)</figcaption>
            <div id="chart-knn" class="chart"></div></figure>
        </section>
        <section class="tables">
          <div>
            <h2>workers</h2>
            <table id="workers"><thead><tr><th>rank</th><th>host</th><th>heartbeat age</th><th>img/s</th></tr></thead>
              <tbody></tbody></table>
          </div>
          <div>
            <h2>generation changes</h2>
            <ul id="marks" class="marks"></ul>
            <h2>checkpoints</h2>
            <ul id="checkpoints" class="marks"></ul>
          </div>
        </section>
        <section>
          <h2>attention of the latest checkpoint's teacher <span id="attention-note" class="note"></span></h2>
          <div id="attention" class="attention"></div>
        </section>
        <footer>Served by mugs-coordinator's control port: GET /status, /metrics, /history, /attention; POST
          /checkpoint, /pause, /resume, /stop with the job token (asked for each time, never stored).</footer>
        </body>
        </html>

        """#

    public static let style = #"""
        body { font: 14px/1.4 system-ui, sans-serif; margin: 0 1.5em 2em; color: #222; background: #fafafa; }
        header { display: flex; align-items: baseline; gap: 1em; flex-wrap: wrap; }
        h1 { font-size: 1.4em; margin: 0.6em 0; }
        h2 { font-size: 1.05em; margin: 1em 0 0.4em; }
        .state { padding: 0.1em 0.6em; border-radius: 1em; background: #ddd; }
        .state.training { background: #cfe8cf; } .state.paused, .state.waiting { background: #f3e2b3; }
        .state.finished, .state.stopped { background: #d6dcef; } .state.unreachable { background: #f2c4c4; }
        .actions { margin-left: auto; } .actions button { margin-left: 0.3em; }
        .banner { background: #f9d9a8; border: 1px solid #d9a050; padding: 0.5em 1em; }
        .note { color: #666; font-size: 0.9em; }
        .figures { display: grid; grid-template-columns: repeat(auto-fill, minmax(11em, 1fr)); gap: 0.5em; }
        .figures div { background: #fff; border: 1px solid #e2e2e2; padding: 0.4em 0.7em; }
        .figures b { display: block; font-weight: normal; color: #666; font-size: 0.85em; }
        .charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(30em, 1fr)); gap: 0.8em; }
        figure { margin: 0.6em 0 0; background: #fff; border: 1px solid #e2e2e2; padding: 0.5em; }
        figcaption { color: #444; margin-bottom: 0.3em; }
        .chart { height: 220px; width: 100%; }
        .tables { display: grid; grid-template-columns: repeat(auto-fit, minmax(24em, 1fr)); gap: 1.5em; }
        table { border-collapse: collapse; background: #fff; }
        td, th { border: 1px solid #e2e2e2; padding: 0.2em 0.6em; text-align: right; }
        td:nth-child(2), th:nth-child(2) { text-align: left; }
        .marks { list-style: none; padding: 0; margin: 0; max-height: 14em; overflow-y: auto; font-size: 0.9em; }
        .marks li { border-left: 4px solid #999; padding-left: 0.5em; margin-bottom: 0.2em; }
        .mark-join { border-color: #2e9e44 !important; } .mark-leave { border-color: #d9a050 !important; }
        .mark-evict { border-color: #c8322d !important; } .mark-abort { border-color: #8a5cc7 !important; }
        .attention { display: flex; flex-direction: column; gap: 0.6em; }
        .attention .row { display: flex; gap: 0.4em; align-items: center; flex-wrap: wrap; }
        .attention img { width: 112px; height: 112px; image-rendering: pixelated; border: 1px solid #ccc; }
        .attention .label { width: 9em; font-size: 0.9em; }
        footer { margin-top: 2em; color: #777; font-size: 0.85em; }

        """#
}
