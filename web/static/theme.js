// Light, dark or the system's choice, remembered per browser. A classic
// script in <head>, so that the theme is set before the first paint.
(function () {
  var order = ["auto", "light", "dark"];
  var saved = null;
  try { saved = localStorage.getItem("switchboard.theme"); } catch (e) { /* private mode */ }
  var theme = order.indexOf(saved) >= 0 ? saved : "auto";
  function apply(name) {
    if (name === "auto") document.documentElement.removeAttribute("data-theme");
    else document.documentElement.setAttribute("data-theme", name);
  }
  apply(theme);
  document.addEventListener("DOMContentLoaded", function () {
    var button = document.getElementById("theme");
    if (!button) return;
    button.hidden = false;
    button.textContent = "Theme: " + theme;
    button.addEventListener("click", function () {
      theme = order[(order.indexOf(theme) + 1) % order.length];
      apply(theme);
      button.textContent = "Theme: " + theme;
      try { localStorage.setItem("switchboard.theme", theme); } catch (e) { /* private mode */ }
    });
  });
})();
