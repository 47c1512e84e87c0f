/**
 * A headless Debian `chromium` driven through the Chrome DevTools protocol
 * (a WebSocket, no library): loads a page, gathers what its console and its
 * runtime reported, evaluates expressions in it and takes a screenshot.
 */

/** The browser's path, or null where none is installed. */
export const CHROMIUM: string | null = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
  .find((p) => {
    try {
      return Deno.statSync(p).isFile;
    } catch {
      return false;
    }
  }) ?? null;

/** One loaded page: what it logged as errors, an evaluator and a screenshot. */
export interface LoadedPage {
  /** Console errors, uncaught exceptions and failed loads the browser reported. */
  errors: string[];
  /** The value of a JavaScript expression evaluated in the page (JSON-serialisable; promises awaited). */
  evaluate<T>(expression: string): Promise<T>;
  /** A PNG of the whole page. */
  screenshot(): Promise<Uint8Array>;
}

/** Reads the browser's stderr until it prints its DevTools WebSocket address. */
async function devtoolsUrl(stderr: ReadableStream<Uint8Array>): Promise<string> {
  const reader = stderr.pipeThrough(new TextDecoderStream()).getReader();
  let text = "";
  while (true) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`Cannot start chromium: it exited saying ${text.trim()}`);
    text += value;
    const m = text.match(/DevTools listening on (ws:\/\/\S+)/);
    if (m) {
      // Keep draining stderr so the browser never blocks on a full pipe.
      (async () => {
        while (!(await reader.read()).done);
      })().catch(() => {});
      return m[1];
    }
  }
}

/**
 * Opens `url` in a fresh headless chromium, waits for its load event, and
 * gives the page to `use`; the browser is closed after.
 */
export async function withPage<T>(url: string, use: (page: LoadedPage) => Promise<T>): Promise<T> {
  if (!CHROMIUM) throw new Error("Cannot open a page: chromium is not installed");
  const profile = await Deno.makeTempDir({ prefix: "advssl-chromium-" });
  const child = new Deno.Command(CHROMIUM, {
    args: [
      "--headless",
      "--no-sandbox", // tests run as root in CI's containers
      "--disable-gpu",
      "--no-first-run",
      "--remote-debugging-port=0",
      `--user-data-dir=${profile}`,
      "about:blank",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  try {
    const ws = new WebSocket(await devtoolsUrl(child.stderr));
    await new Promise((ok, fail) => {
      ws.onopen = ok;
      ws.onerror = () => fail(new Error("Cannot reach chromium's DevTools socket"));
    });
    let nextId = 1;
    const pending = new Map<number, { ok: (v: unknown) => void; fail: (e: Error) => void }>();
    const listeners: ((method: string, params: Record<string, unknown>) => void)[] = [];
    ws.onmessage = (e) => {
      const msg = JSON.parse(e.data);
      if (msg.id !== undefined) {
        const p = pending.get(msg.id)!;
        pending.delete(msg.id);
        if (msg.error) p.fail(new Error(`DevTools: ${msg.error.message}`));
        else p.ok(msg.result);
      } else {
        for (const l of listeners) l(msg.method, msg.params);
      }
    };
    const send = (method: string, params: unknown = {}, sessionId?: string) =>
      new Promise<Record<string, unknown>>((ok, fail) => {
        const id = nextId++;
        pending.set(id, { ok: ok as (v: unknown) => void, fail });
        ws.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
      });
    const { targetId } = await send("Target.createTarget", { url: "about:blank" });
    const { sessionId } = await send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    const errors: string[] = [];
    let loaded: () => void;
    const load = new Promise<void>((ok) => loaded = ok);
    listeners.push((method, params) => {
      if (method === "Page.loadEventFired") loaded();
      if (method === "Runtime.consoleAPICalled" && params.type === "error") {
        errors.push(`console.error: ${JSON.stringify(params.args)}`);
      }
      if (method === "Runtime.exceptionThrown") {
        errors.push(`exception: ${JSON.stringify(params.exceptionDetails)}`);
      }
      if (method === "Log.entryAdded") {
        const entry = params.entry as { level: string; text: string; url?: string };
        if (entry.level === "error") errors.push(`${entry.text} ${entry.url ?? ""}`.trim());
      }
    });
    for (const domain of ["Page", "Runtime", "Log"]) await send(`${domain}.enable`, {}, sessionId);
    await send("Page.navigate", { url }, sessionId);
    await load;
    const page: LoadedPage = {
      errors,
      async evaluate<T>(expression: string): Promise<T> {
        const r = await send("Runtime.evaluate", {
          expression,
          returnByValue: true,
          awaitPromise: true,
        }, sessionId) as {
          result: { value: T };
          exceptionDetails?: unknown;
        };
        if (r.exceptionDetails) {
          throw new Error(`Cannot evaluate ${expression}: ${JSON.stringify(r.exceptionDetails)}`);
        }
        return r.result.value;
      },
      async screenshot() {
        const r = await send("Page.captureScreenshot", {
          format: "png",
          captureBeyondViewport: true,
        }, sessionId) as { data: string };
        return Uint8Array.from(atob(r.data), (c) => c.charCodeAt(0));
      },
    };
    try {
      return await use(page);
    } finally {
      ws.close();
    }
  } finally {
    try {
      child.kill("SIGKILL");
    } catch { /* already gone */ }
    await child.status;
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
}
