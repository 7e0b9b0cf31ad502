// The inbox as pages fetched on demand: only the rows near the viewport are asked for,
// so 100 000 cached letters cost what 200 cost. Re-queried on `letters-changed`,
// `letters-arrived`, a filter change, and every 30 s (bands move with time).
import { computed, onBeforeUnmount, ref, shallowReactive, watch, type Ref } from "vue";
import { appState } from "../../app/state";
import { learnServerNow } from "../../domain/serverTime";
import * as ipc from "../../ipc";
import type { InboxQuery, InboxRow, StateCount } from "../../ipc";

export const PAGE_SIZE = 200;
const REFRESH_MS = 30_000;

export function useInbox(query: Ref<InboxQuery>) {
  const pages = shallowReactive(new Map<number, InboxRow[]>());
  const total = ref(0);
  const counts = ref<StateCount[]>([]);
  const loading = ref(true);
  const error = ref<unknown>(null);
  /** Pages the viewport shows now: refreshed first. */
  let visible: [number, number] = [0, 0];
  let generation = 0;
  const inFlight = new Set<number>();

  async function fetchPage(page: number, gen: number): Promise<void> {
    if (inFlight.has(page)) return;
    inFlight.add(page);
    try {
      const view = await ipc.inbox({ ...query.value, offset: page * PAGE_SIZE, limit: PAGE_SIZE });
      if (gen !== generation) return;
      learnServerNow(view.serverNow);
      pages.set(page, view.page.rows);
      total.value = view.page.total;
      counts.value = view.page.state_counts;
      error.value = null;
    } catch (e) {
      if (gen === generation) error.value = e;
    } finally {
      inFlight.delete(page);
      if (gen === generation) loading.value = false;
    }
  }

  function rowAt(index: number): InboxRow | undefined {
    return pages.get(Math.floor(index / PAGE_SIZE))?.[index % PAGE_SIZE];
  }

  /** Where a letter is among the loaded rows, or -1. */
  function indexOf(id: number): number {
    for (const [page, rows] of pages) {
      const i = rows.findIndex((r) => r.id === id);
      if (i >= 0) return page * PAGE_SIZE + i;
    }
    return -1;
  }

  /** Makes sure rows `from..to` (inclusive) are loaded or loading. */
  function ensure(from: number, to: number): void {
    const first = Math.max(0, Math.floor(from / PAGE_SIZE));
    const last = Math.max(first, Math.floor(Math.max(from, to) / PAGE_SIZE));
    visible = [first, last];
    for (let p = first; p <= last; p++) {
      if (!pages.has(p) && (p === 0 || p * PAGE_SIZE < total.value)) void fetchPage(p, generation);
    }
  }

  /** Re-queries what is shown; other pages are dropped and re-fetched when scrolled to. */
  async function refresh(): Promise<void> {
    const gen = ++generation;
    inFlight.clear();
    const keep = new Set<number>([0]);
    for (let p = visible[0]; p <= visible[1]; p++) keep.add(p);
    await Promise.all([...keep].map((p) => fetchPage(p, gen)));
    for (const p of [...pages.keys()]) if (!keep.has(p)) pages.delete(p);
  }

  function reset(): void {
    generation++;
    inFlight.clear();
    pages.clear();
    loading.value = true;
    visible = [0, 0];
    void fetchPage(0, generation);
  }

  watch(query, reset, { deep: true, immediate: true });
  watch(() => appState.lettersVersion, () => void refresh());
  const timer = setInterval(() => void refresh(), REFRESH_MS);
  onBeforeUnmount(() => clearInterval(timer));

  const items = computed(() => {
    const n = total.value;
    const out = new Array<{ key: number }>(n);
    for (let i = 0; i < n; i++) out[i] = { key: i };
    return out;
  });

  const countOf = (state: string) => counts.value.find((c) => c.state === state)?.count ?? 0;
  const countAll = computed(() => counts.value.reduce((sum, c) => sum + c.count, 0));

  return { pages, total, counts, loading, error, rowAt, indexOf, ensure, refresh, items, countOf, countAll };
}
