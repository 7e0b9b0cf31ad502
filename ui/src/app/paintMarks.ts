// Performance marks that the desktop's benchmark (`cargo xtask bench desk`,
// tests/bench/desk.mjs) reads through WebDriver: `jsjb:first-rows-painted` once the
// inbox has painted its first rows. They cost the officer nothing: the observer
// disconnects at the first rows.
export function markFirstRowsPainted(): void {
  const observer = new MutationObserver(() => {
    if (!document.querySelector("[data-row]")) return;
    observer.disconnect();
    // After the frame that shows the rows, not when they enter the DOM.
    requestAnimationFrame(() => setTimeout(() => performance.mark("jsjb:first-rows-painted"), 0));
  });
  observer.observe(document.documentElement, { childList: true, subtree: true });
}
