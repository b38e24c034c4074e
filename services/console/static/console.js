// Progressive enhancement only: every page works without this file.
import { initAll } from "/static/govuk/govuk-frontend.min.js";

document.body.classList.add("js-enabled", "govuk-frontend-supported");
initAll();

// Personal data shown by an audited reveal leaves the page as soon as the person navigates away,
// so the back button or a restored tab cannot show it again (the page is also `no-store`).
window.addEventListener("pagehide", () => {
  document.querySelectorAll("[data-personal]").forEach((element) => element.remove());
});
