// Progressive refresh of the environments view: fetch the server-rendered fragment
// every data-every milliseconds and swap it in. Without this script the page is the
// same, as of its load.
(function () {
  "use strict";
  var section = document.querySelector("[data-refresh]");
  if (!section || !window.fetch) {
    return;
  }
  var url = section.getAttribute("data-refresh");
  var every = parseInt(section.getAttribute("data-every"), 10) || 5000;
  function note(text) {
    var el = section.querySelector(".refresh-note");
    if (el) {
      el.textContent = text;
    }
  }
  var stamp = /<time>([^<]*)<\/time>/;
  var last = null; // the last fragment swapped in, without its time stamp
  function strip(html) {
    return html.replace(stamp, "").trim();
  }
  function timeOf(html) {
    var m = stamp.exec(html);
    return m ? m[1] : "";
  }
  function tick() {
    fetch(url, { credentials: "same-origin", cache: "no-store" })
      .then(function (resp) {
        if (resp.status === 401) {
          window.location.reload(); // the session ended: show the login form
          return null;
        }
        if (!resp.ok) {
          throw new Error("HTTP " + resp.status);
        }
        return resp.text();
      })
      .then(function (html) {
        // Swap only what changed beyond its time stamp, so that focus and a
        // screen reader's place survive a refresh that brings nothing new.
        if (html !== null && strip(html) !== last) {
          section.innerHTML = html;
          last = strip(html);
        } else if (html !== null) {
          section.querySelector(".updated time").textContent = timeOf(html);
          note("");
        }
      })
      .catch(function () {
        note(" — refresh failed; retrying");
      })
      .then(function () {
        window.setTimeout(tick, every);
      });
  }
  window.setTimeout(tick, every);
})();
