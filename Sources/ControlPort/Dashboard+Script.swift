extension Dashboard {
    /// The page's script: polls `/status` every 2 s and `/history` when the step moved (at least every 10 s), redraws
    /// the figures, tables and dygraphs charts, and `/attention` every 10 s. The action buttons ask for the job token
    /// each time (`window.prompt`) and send it only in that request's Authorization header; it is never stored.
    public static let script = #"""
        "use strict";
        (function () {
          const $ = (id) => document.getElementById(id);
          const charts = {};
          let history = null, lastHistoryStep = -1, lastHistoryAt = 0, attentionStep = null;

          function text(id, value) { $(id).textContent = value; }
          function known(x) { return x !== null && x !== undefined && isFinite(x); }
          function num(x, digits) { return known(x) ? Number(x).toFixed(digits) : "–"; }
          function sci(x) { return known(x) ? Number(x).toExponential(3) : "–"; }
          function clock(unixTime) { return new Date(unixTime * 1000).toLocaleTimeString(); }
          function duration(s) {
            if (!known(s)) return "–";
            s = Math.round(s);
            const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
            const two = (n) => String(n).padStart(2, "0");
            return h > 0 ? h + "h" + two(m) + "m" : m > 0 ? m + "m" + two(sec) + "s" : sec + "s";
          }
          function banner(message) {
            const b = $("banner");
            b.hidden = !message;
            b.textContent = message || "";
          }
          async function getJSON(path) {
            const r = await fetch(path, { cache: "no-store" });
            const body = await r.text();
            if (!r.ok) {
              let why = body;
              try { why = JSON.parse(body).error || body; } catch (e) { /* not JSON */ }
              throw new Error(path + ": HTTP " + r.status + ": " + why);
            }
            return JSON.parse(body);
          }

          // --- figures and tables from /status -------------------------------------------------------------------
          function showStatus(s) {
            text("fig-job", s.job || "");
            const state = $("fig-state");
            state.textContent = s.state;
            state.className = "state " + s.state;
            text("fig-step", s.step + " / " + s.total_steps);
            $("fig-step").dataset.step = String(s.step);
            text("fig-epoch", s.epoch + " (" + num(100 * s.epoch_progress, 1) + " %)");
            text("fig-loss", s.losses ? num(s.losses.total, 4) : "–");
            text("fig-lr", sci(s.lr));
            text("fig-ips", num(s.images_per_second, 1) + " img/s");
            text("fig-eta", duration(s.eta_seconds));
            const workers = (s.workers || []).length;
            text("fig-generation", s.generation + " (" + workers + " workers, min " + s.min_workers + ")");
            const c = s.last_checkpoint;
            text("fig-checkpoint", c ? "step " + c.step + " at " + clock(c.unix_time) : "none yet");
            const k = s.online_knn;
            text("fig-knn", k ? "top-1 " + num(k.top1, 2) + " % at step " + k.step : "–");
            showWorkers(s.workers || []);
          }

          const knownWorkerKeys = ["rank", "host", "heartbeat_age_seconds", "images_per_second"];
          function showWorkers(workers) {
            const extra = [];
            for (const w of workers) for (const key of Object.keys(w)) {
              if (!knownWorkerKeys.includes(key) && !extra.includes(key)) extra.push(key);
            }
            const head = $("workers").tHead.rows[0];
            while (head.cells.length > 4) head.deleteCell(-1);
            for (const key of extra) {
              const th = document.createElement("th");
              th.textContent = key.replace(/_/g, " ");
              head.appendChild(th);
            }
            const body = $("workers").tBodies[0];
            body.replaceChildren();
            for (const w of workers) {
              const row = body.insertRow();
              const cells = [w.rank, w.host, num(w.heartbeat_age_seconds, 1) + " s", num(w.images_per_second, 1)];
              for (const key of extra) {
                const v = w[key];
                if (v === null || v === undefined) cells.push("–");
                else if (typeof v === "number") cells.push(num(v, 1));
                else if (typeof v === "object") cells.push(JSON.stringify(v));
                else cells.push(String(v));
              }
              for (const v of cells) row.insertCell().textContent = v;
            }
          }

          // --- charts from /history ------------------------------------------------------------------------------
          function markClass(m) {
            if (m.kind === "evict") return "evict";
            if (m.kind === "abort") return "abort";
            if (m.joined && m.joined.length) return "join";
            if (m.left && m.left.length) return "leave";
            return "generation";
          }
          const markColours = { join: "#2e9e44", leave: "#d9a050", evict: "#c8322d", abort: "#8a5cc7",
                                generation: "#999" };

          // Vertical lines at the marks, on the step or the time axis.
          function markUnderlay(byTime) {
            return function (ctx, area, g) {
              if (!history) return;
              for (const m of history.marks) {
                const x = g.toDomXCoord(byTime ? new Date(m.unix_time * 1000) : m.step);
                if (!(x >= area.x && x <= area.x + area.w)) continue;
                ctx.fillStyle = markColours[markClass(m)];
                ctx.fillRect(x - 1, area.y, 2, area.h);
              }
            };
          }

          function draw(id, rows, labels, options) {
            const div = $(id);
            div.dataset.points = String(rows.length);
            if (typeof Dygraph === "undefined") return;
            if (rows.length === 0) {
              if (!charts[id]) div.textContent = "no points yet";
              return;
            }
            const o = Object.assign({ labels: labels, file: rows, legend: "always", labelsSeparateLines: false,
                                      connectSeparatedPoints: true, drawPoints: rows.length < 60 }, options);
            if (charts[id]) { charts[id].updateOptions(o); return; }
            div.textContent = "";
            charts[id] = new Dygraph(div, rows, o);
          }

          function column(series, name) { return series.columns.indexOf(name); }
          function pick(series, x, names, xIsTime) {
            const xi = column(series, x), idx = names.map((n) => column(series, n));
            return series.rows.map((r) => [xIsTime ? new Date(r[xi] * 1000) : r[xi]].concat(idx.map((i) => r[i])));
          }

          function showHistory(h) {
            history = h;
            const s = h.steps;
            draw("chart-loss", pick(s, "step", ["loss_instance", "loss_local_group", "loss_group", "loss_total"]),
                 ["step", "instance", "local-group", "group", "total"], { underlayCallback: markUnderlay(false) });
            const digits = (n) => (v) => num(v, n);
            draw("chart-lr", pick(s, "step", ["lr", "weight_decay"]), ["step", "lr", "weight decay"],
                 { series: { "weight decay": { axis: "y2" } },
                   axes: { y: { valueFormatter: sci, axisLabelFormatter: (v) => Number(v).toExponential(1),
                                axisLabelWidth: 60 },
                           y2: { valueFormatter: digits(4), axisLabelFormatter: digits(3) } } });
            draw("chart-momentum", pick(s, "step", ["teacher_momentum", "teacher_temperature"]),
                 ["step", "teacher momentum", "teacher temperature"],
                 { series: { "teacher temperature": { axis: "y2" } },
                   axes: { y: { valueFormatter: digits(6), axisLabelFormatter: digits(4), axisLabelWidth: 60 },
                           y2: { valueFormatter: digits(4), axisLabelFormatter: digits(3) } } });
            draw("chart-throughput", pick(s, "unix_time", ["images_per_second", "ring_size"], true),
                 ["time", "images/s", "workers in the ring"],
                 { series: { "workers in the ring": { axis: "y2", stepPlot: true } },
                   axes: { y: { includeZero: true, valueFormatter: digits(1) },
                           y2: { includeZero: true, independentTicks: true, valueFormatter: digits(2),
                                 axisLabelFormatter: (v) => (Number.isInteger(v) ? String(v) : "") } },
                   underlayCallback: markUnderlay(true) });
            draw("chart-knn", pick(h.online_knn, "step", ["top1", "top5"]), ["step", "top-1 %", "top-5 %"],
                 { axes: { y: { includeZero: true, valueFormatter: digits(2) } } });
            const span = s.span > 1 ? " (each point merges " + s.span + " steps)" : "";
            const caption = $("chart-loss").parentElement.querySelector("figcaption");
            caption.textContent = "loss by granularity (x: step)" + span;
            const marks = h.marks.slice().reverse().slice(0, 50);
            const line = (what, step, time) => "step " + step + ", " + clock(time) + ": " + what;
            showList("marks", marks.map((m) => [markClass(m), line(m.text, m.step, m.unix_time)]), h.marks_dropped);
            const checkpoints = h.checkpoints.slice().reverse().slice(0, 20);
            showList("checkpoints", checkpoints.map((c) => ["generation", line(c.path, c.step, c.unix_time)]),
                     h.checkpoints_dropped);
          }

          function showList(id, items, dropped) {
            const ul = $(id);
            ul.replaceChildren();
            for (const [kind, line] of items) {
              const li = document.createElement("li");
              li.className = "mark-" + kind;
              li.textContent = line;
              ul.appendChild(li);
            }
            if (items.length === 0) ul.textContent = "none yet";
            if (dropped > 0) {
              const li = document.createElement("li");
              li.textContent = dropped + " older entries dropped";
              ul.appendChild(li);
            }
          }

          // --- attention maps ------------------------------------------------------------------------------------
          function showAttention(a) {
            text("attention-note", a.message || "");
            if (a.state !== "ready" || a.step === attentionStep) return;
            attentionStep = a.step;
            const box = $("attention");
            box.replaceChildren();
            for (const image of a.images) {
              const row = document.createElement("div");
              row.className = "row";
              const label = document.createElement("span");
              label.className = "label";
              label.textContent = image.name;
              row.appendChild(label);
              for (const map of image.maps) {
                const img = document.createElement("img");
                img.src = "/attention/" + a.step + "/" + image.index + "/" + map + ".png";
                img.alt = image.name + " " + map;
                img.title = map;
                row.appendChild(img);
              }
              box.appendChild(row);
            }
          }

          // --- polling -------------------------------------------------------------------------------------------
          async function refresh() {
            let status = null;
            try {
              status = await getJSON("/status");
              showStatus(status);
            } catch (e) {
              const state = $("fig-state");
              state.textContent = "unreachable";
              state.className = "state unreachable";
            }
            const now = Date.now();
            if (status && (status.step !== lastHistoryStep || now - lastHistoryAt > 10000)) {
              try {
                showHistory(await getJSON("/history"));
                lastHistoryStep = status.step;
                lastHistoryAt = now;
              } catch (e) { /* the next round tries again */ }
            }
            setTimeout(refresh, 2000);
          }

          async function refreshAttention() {
            try { showAttention(await getJSON("/attention")); } catch (e) { text("attention-note", String(e.message)); }
            setTimeout(refreshAttention, 10000);
          }

          async function checkCharts() {
            if (typeof Dygraph !== "undefined") return;
            let why = "the charting library did not load";
            try {
              const r = await fetch("/assets/dygraph.js", { cache: "no-store" });
              if (!r.ok) why = JSON.parse(await r.text()).error;
            } catch (e) { /* keep the generic message */ }
            banner("Charts unavailable: " + why + ". Figures and tables still update.");
          }

          // --- actions: the token is asked for each time and lives only in this call ------------------------------
          async function act(action) {
            if (action === "stop" && !window.confirm("Stop the job after a final checkpoint?")) return;
            const token = window.prompt("Job token for POST /" + action + " (it is not stored):");
            if (!token) return;
            let message;
            try {
              const r = await fetch("/" + action, { method: "POST", cache: "no-store",
                                                    headers: { "Authorization": "Bearer " + token.trim() } });
              const body = await r.json().catch(() => ({}));
              message = "POST /" + action + ": HTTP " + r.status + ": " + (body.message || body.error || "");
            } catch (e) {
              message = "POST /" + action + " failed: " + e.message;
            }
            text("action-result", message);
          }

          document.addEventListener("DOMContentLoaded", function () {
            for (const b of document.querySelectorAll("button[data-action]")) {
              b.addEventListener("click", () => act(b.dataset.action));
            }
            checkCharts();
            refresh();
            refreshAttention();
          });
        })();

        """#
}
