// Performance marks that the desktop's benchmark (`cargo xtask bench desk`,
// tests/bench/desk.mjs) reads through WebDriver. They cost the officer nothing.

const marked = new Set<string>();

/** Marks `name` once per page load, after the frame that shows what was just rendered. */
export function markPaintedOnce(name: string): void {
  if (marked.has(name)) return;
  marked.add(name);
  requestAnimationFrame(() => setTimeout(() => performance.mark(name), 0));
}
