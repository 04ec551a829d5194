// Test doubles: a fake clock, a fake WebSocket class, and fake windows for the bridge.

/** Timers that run only when the test advances the time. */
export class FakeClock {
  constructor(start = 0) {
    this.t = start;
    this.timers = new Map();
    this.nextId = 1;
  }

  now() {
    return this.t;
  }

  setTimeout(callback, ms) {
    const id = this.nextId++;
    this.timers.set(id, { id, at: this.t + Math.max(0, Number(ms) || 0), callback });
    return id;
  }

  clearTimeout(id) {
    this.timers.delete(id);
  }

  /** Move the time forward by `ms`, running every timer due on the way, in order. */
  advance(ms) {
    const target = this.t + ms;
    for (;;) {
      let next = null;
      for (const timer of this.timers.values()) {
        if (timer.at <= target && (next === null || timer.at < next.at || (timer.at === next.at && timer.id < next.id))) {
          next = timer;
        }
      }
      if (next === null) break;
      this.timers.delete(next.id);
      this.t = next.at;
      next.callback();
    }
    this.t = target;
  }

  /** Delays (from now) of the pending timers, sorted. */
  pendingDelays() {
    return [...this.timers.values()].map((t) => t.at - this.t).sort((a, b) => a - b);
  }
}

/** Let promise callbacks (getToken, request settlement) run. */
export async function flush(rounds = 3) {
  for (let i = 0; i < rounds; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** A WebSocket class whose instances the test drives: open(), receive(), serverClose(), fail(). */
export function fakeSocketClass() {
  class FakeWebSocket {
    static instances = [];

    constructor(url, protocols) {
      this.url = url;
      this.protocols = protocols;
      this.readyState = 0;
      this.sent = [];
      this.closedByClient = null;
      this.binaryType = "blob";
      this.onopen = null;
      this.onmessage = null;
      this.onclose = null;
      this.onerror = null;
      FakeWebSocket.instances.push(this);
    }

    static get last() {
      return FakeWebSocket.instances[FakeWebSocket.instances.length - 1];
    }

    send(data) {
      if (this.readyState !== 1) throw new Error("InvalidStateError: not open");
      this.sent.push(JSON.parse(data));
    }

    close(code, reason) {
      this.closedByClient = { code, reason };
      this.readyState = 2;
    }

    open() {
      this.readyState = 1;
      this.onopen?.({ type: "open" });
    }

    receive(frame) {
      this.onmessage?.({ data: typeof frame === "string" ? frame : JSON.stringify(frame) });
    }

    serverClose(code, reason = "") {
      this.readyState = 3;
      this.onclose?.({ code, reason, wasClean: code !== 1006 });
    }

    /** A connection refused or dropped: error then close 1006. */
    fail() {
      this.readyState = 3;
      this.onerror?.({ type: "error" });
      this.onclose?.({ code: 1006, reason: "", wasClean: false });
    }

    /** The messages sent of one type. */
    sentOf(type) {
      return this.sent.filter((m) => m.type === type);
    }

    get token() {
      return new URL(this.url).searchParams.get("token");
    }
  }
  return FakeWebSocket;
}

/** A browser-like window: postMessage on another side's proxy dispatches `message` events here. */
export class FakeWindow {
  constructor(origin) {
    this.origin = origin;
    this.listeners = new Set();
    this.posts = [];
  }

  addEventListener(type, listener) {
    if (type === "message") this.listeners.add(listener);
  }

  removeEventListener(type, listener) {
    if (type === "message") this.listeners.delete(listener);
  }

  dispatch(event) {
    for (const listener of [...this.listeners]) listener(event);
  }
}

/**
 * The object `from` holds to post to `to` (window.parent, or iframe.contentWindow): messages
 * are structured-cloned and delivered only when targetOrigin matches `to`'s origin, like a browser.
 */
export function proxy(from, to) {
  const handle = {
    postMessage(message, targetOrigin) {
      from.posts.push({ message, targetOrigin });
      if (targetOrigin !== "*" && targetOrigin !== to.origin) return;
      to.dispatch({ data: structuredClone(message), origin: from.origin, source: from.self });
    },
  };
  return handle;
}

/** A casino page embedding a game iframe: host and game windows wired both ways. */
export function embed(hostOrigin = "http://localhost:8090", gameOrigin = "http://127.0.0.1:8091") {
  const host = new FakeWindow(hostOrigin);
  const game = new FakeWindow(gameOrigin);
  // What each side sees as the other: game's window.parent, and host's iframe.contentWindow.
  const parent = proxy(game, host);
  const contentWindow = proxy(host, game);
  game.self = contentWindow; // as the host sees the game (event.source on the host side)
  host.self = parent; // as the game sees the host (event.source on the game side)
  return { host, game, parent, iframe: { contentWindow } };
}
