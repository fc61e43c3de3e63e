/* raveforce-mae run report: playback helpers (no library). The page is complete
   without this script: it adds the A/B switches, the step player, the playheads, the
   clickable reward chart and the highlighting of the performance text. */
(function () {
  "use strict";

  function each(list, fn) { Array.prototype.forEach.call(list, fn); }
  function all(root, selector) { return Array.prototype.slice.call(root.querySelectorAll(selector)); }

  function play(a) {
    var p = a.play();
    if (p && p.catch) {
      p.catch(function (e) {
        // A pause() or a switch before playback began aborts play(): that is no error.
        if (e.name !== "AbortError") { console.warn("cannot play " + a.currentSrc + ": " + e.message); }
      });
    }
  }

  var players = all(document, "audio");
  // One sound at a time: starting a player pauses the others.
  each(players, function (a) {
    a.addEventListener("play", function () {
      each(players, function (b) { if (b !== a && !b.paused) { b.pause(); } });
    });
  });
  each(document.querySelectorAll(".js-only"), function (el) { el.hidden = false; });
  each(document.querySelectorAll("section.episode"), setup);

  function setup(sec) {
    var sr = Number(sec.getAttribute("data-sample-rate"));
    var steps = JSON.parse(sec.getAttribute("data-steps")).map(function (s) { return [s[0] / sr, s[1] / sr]; });
    var audios = all(sec, "audio");
    var specs = all(sec, ".spec");
    var rects = all(sec, "svg.chart rect.step");
    var chart = sec.querySelector("svg.chart");
    var line = sec.querySelector(".chart-playhead");
    var sections = all(sec, ".sec");
    var pre = sec.querySelector("pre.performance");
    var pos = sec.querySelector(".now .pos");
    var stepNow = sec.querySelector(".now .step-now");
    var selects = all(sec, ".step-select");
    var current = audios[0] || null; // the player the page follows
    var stop = null; // [start, end] of the step being played alone
    var switching = false;
    var frame = 0;
    var timer = 0;
    var shownStep = -1;
    all(sec, ".row").forEach(makeRow);

    function stepAt(t) {
      var k = 0;
      for (var i = 0; i < steps.length; i++) { if (steps[i][0] <= t + 1e-6) { k = i; } }
      return k;
    }

    function show(t) {
      each(specs, function (s) {
        var ph = s.querySelector(".playhead");
        ph.hidden = false;
        ph.style.left = Math.min(100, 100 * t / Number(s.getAttribute("data-seconds"))) + "%";
      });
      if (!steps.length) { return; }
      var k = stepAt(t);
      if (pos) { pos.textContent = t.toFixed(3) + " s"; }
      if (stepNow) { stepNow.textContent = String(k); }
      if (line && rects[k]) {
        var f = (t - steps[k][0]) / Math.max(steps[k][1] - steps[k][0], 1e-9);
        var x = Number(rects[k].getAttribute("x")) + Number(rects[k].getAttribute("width")) * Math.min(Math.max(f, 0), 1);
        line.setAttribute("x1", x);
        line.setAttribute("x2", x);
        line.setAttribute("visibility", "visible");
      }
      if (k === shownStep) { return; }
      shownStep = k;
      rects.forEach(function (r, i) { r.classList.toggle("current", i === k); });
      var fr = Math.round(steps[k][0] * sr);
      var on = null;
      sections.forEach(function (s) { if (Number(s.getAttribute("data-start")) <= fr) { on = s; } });
      sections.forEach(function (s) {
        s.classList.toggle("current", s === on);
        if (s === on) { s.setAttribute("aria-current", "step"); } else { s.removeAttribute("aria-current"); }
      });
      // Scroll the performance box (not the page) to keep the section in view.
      if (on && pre && (on.offsetTop < pre.scrollTop || on.offsetTop + on.offsetHeight > pre.scrollTop + pre.clientHeight)) {
        pre.scrollTop = Math.max(0, on.offsetTop - 8);
      }
    }

    function tick() {
      frame = 0;
      var a = current;
      if (!a) { return; }
      if (stop && a.currentTime >= stop[1]) { endStep(); }
      show(a.currentTime);
      if (!a.paused) { frame = requestAnimationFrame(tick); }
    }

    function follow(a) {
      current = a;
      if (!frame) { frame = requestAnimationFrame(tick); }
    }

    function endStep() {
      var a = current;
      var end = stop[1];
      stop = null;
      clearTimeout(timer);
      a.pause();
      a.currentTime = Math.min(end, a.duration || end);
    }

    function seekAll(t) {
      stop = null;
      clearTimeout(timer);
      audios.forEach(function (a) { a.currentTime = t; });
      show(t);
    }

    function makeRow(el) {
      var a = el.querySelector('audio[data-side="a"]');
      var b = el.querySelector('audio[data-side="b"]');
      var radios = all(el, "fieldset.ab input");
      var row = { a: a, b: b, active: a || b };
      row.mark = function (x) {
        row.active = x;
        each(el.querySelectorAll(".side"), function (fig) { fig.classList.toggle("active", fig.contains(x)); });
        radios.forEach(function (r) { r.checked = r.value === x.getAttribute("data-side"); });
      };
      radios.forEach(function (r) {
        r.addEventListener("change", function () { if (r.checked) { switchTo(row, r.value === "a" ? a : b); } });
      });
      var sel = el.querySelector(".step-select");
      var btn = el.querySelector(".play-step");
      if (btn && sel) { btn.addEventListener("click", function () { playStep(row, Number(sel.value)); }); }
      [a, b].forEach(function (x) {
        if (x) { x.addEventListener("play", function () { if (!switching) { row.mark(x); } }); }
      });
      if (row.active) { row.mark(row.active); }
      return row;
    }

    // A/B: the other player of the row takes over at the same position (and keeps
    // playing if the first one was), so the two are compared at the same moment.
    function switchTo(row, to) {
      var from = row.active;
      if (!to || to === from) { return; }
      var t = from.currentTime;
      var playing = !from.paused;
      switching = true;
      from.pause();
      to.currentTime = t;
      row.mark(to);
      current = to;
      show(t);
      if (playing) { play(to); follow(to); }
      switching = false;
    }

    function playStep(row, k) {
      var a = row.active;
      seekAll(steps[k][0]);
      stop = steps[k];
      current = a;
      play(a);
      follow(a);
      // rAF checks every frame; the timer ends the step in a background tab too.
      timer = setTimeout(function () { if (stop && current === a) { endStep(); show(a.currentTime); } },
        1000 * (steps[k][1] - steps[k][0]) / (a.playbackRate || 1) + 40);
    }

    function jump(k) {
      seekAll(steps[k][0]);
      selects.forEach(function (s) { s.value = String(k); });
    }

    audios.forEach(function (a) {
      a.addEventListener("play", function () { follow(a); });
      a.addEventListener("pause", function () {
        if (!switching && stop && a === current) { stop = null; clearTimeout(timer); }
        if (a === current) { show(a.currentTime); }
      });
      a.addEventListener("seeking", function () {
        // A seek outside the step being played alone ends that mode.
        if (stop && a === current && (a.currentTime < stop[0] - 1e-3 || a.currentTime > stop[1])) { stop = null; }
      });
      each(["seeked", "timeupdate"], function (ev) {
        a.addEventListener(ev, function () { if (a === current) { show(a.currentTime); } });
      });
    });

    specs.forEach(function (s) {
      s.addEventListener("click", function (e) {
        var box = s.getBoundingClientRect();
        seekAll(Number(s.getAttribute("data-seconds")) * (e.clientX - box.left) / box.width);
      });
    });

    if (chart && rects.length) {
      chart.classList.add("js");
      var focusStep = function (n) {
        rects.forEach(function (r, i) { r.setAttribute("tabindex", i === n ? "0" : "-1"); });
        rects[n].focus();
      };
      rects.forEach(function (r, k) {
        r.setAttribute("role", "button");
        r.setAttribute("tabindex", k === 0 ? "0" : "-1");
        r.setAttribute("aria-label", "Step " + k + ": play from " + steps[k][0].toFixed(3) + " s");
        r.addEventListener("click", function () { focusStep(k); jump(k); });
        r.addEventListener("keydown", function (e) {
          var n = null;
          if (e.key === "ArrowRight" || e.key === "ArrowDown") { n = Math.min(k + 1, rects.length - 1); }
          else if (e.key === "ArrowLeft" || e.key === "ArrowUp") { n = Math.max(k - 1, 0); }
          else if (e.key === "Home") { n = 0; }
          else if (e.key === "End") { n = rects.length - 1; }
          else if (e.key === "Enter" || e.key === " ") { e.preventDefault(); jump(k); return; }
          if (n !== null) { e.preventDefault(); focusStep(n); }
        });
      });
    }
    show(0);
  }
})();
