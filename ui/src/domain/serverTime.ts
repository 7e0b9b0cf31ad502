// The server's clock as this workstation estimates it. Every countdown ticks from the
// last `serverNow` a command returned plus the time elapsed since, never from the
// workstation's own clock reading alone (it may be wrong).
import { ref, type Ref } from "vue";

let offsetMs = 0;
const now = ref(Date.now());
let timer: ReturnType<typeof setInterval> | null = null;
let users = 0;

/** Records a `serverNow` (RFC 3339) answered just now. */
export function learnServerNow(serverNow: string | null | undefined): void {
  if (!serverNow) return;
  const ms = Date.parse(serverNow);
  if (Number.isNaN(ms)) return;
  offsetMs = ms - Date.now();
  now.value = ms;
}

/** The server's time now (ms since the epoch), as estimated. */
export function serverNowMs(): number {
  return Date.now() + offsetMs;
}

/** A ref ticking once a second with the estimated server time; stops with its last user. */
export function useServerClock(): { now: Ref<number>; stop: () => void } {
  users += 1;
  if (!timer) {
    timer = setInterval(() => {
      now.value = serverNowMs();
    }, 1000);
  }
  let stopped = false;
  return {
    now,
    stop: () => {
      if (stopped) return;
      stopped = true;
      users -= 1;
      if (users <= 0 && timer) {
        clearInterval(timer);
        timer = null;
        users = 0;
      }
    },
  };
}
