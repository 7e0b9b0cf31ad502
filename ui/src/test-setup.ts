// Vitest: happy-dom lays nothing out, so a virtual list would render no rows. Report a
// 1000 px tall viewport to every observed element (Naive UI's virtual list listens for it).
class ViewportResizeObserver {
  constructor(private readonly callback: ResizeObserverCallback) {}
  observe(target: Element): void {
    const entry = { target, contentRect: { height: 1000, width: 900 } } as unknown as ResizeObserverEntry;
    queueMicrotask(() => this.callback([entry], this as unknown as ResizeObserver));
  }
  unobserve(): void {}
  disconnect(): void {}
}
(window as unknown as { ResizeObserver: unknown }).ResizeObserver = ViewportResizeObserver;
