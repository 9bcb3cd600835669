/* H5 booking pages: small enhancements only; every page works without this file. */
(function () {
  "use strict";
  var forms = document.querySelectorAll("form[data-once]");
  // A form marked data-once is sent once: a second tap while it is on its way does nothing
  // (the server also makes a double submit one booking, through the form's request key).
  forms.forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (form.dataset.sent === "1") {
        event.preventDefault();
        return;
      }
      form.dataset.sent = "1";
      var button = event.submitter || form.querySelector("button[type=submit]");
      if (button && button.dataset.busy) {
        button.dataset.label = button.textContent;
        window.setTimeout(function () { button.textContent = button.dataset.busy; button.disabled = true; }, 0);
      }
    });
  });
  // Coming back with the browser's back button shows the page as it was left: make it usable again.
  window.addEventListener("pageshow", function (event) {
    if (!event.persisted) { return; }
    forms.forEach(function (form) {
      delete form.dataset.sent;
      form.querySelectorAll("button[disabled]").forEach(function (button) {
        button.disabled = false;
        if (button.dataset.label) { button.textContent = button.dataset.label; }
      });
    });
  });
})();
