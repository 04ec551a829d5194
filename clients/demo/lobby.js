// The casino lobby (casino origin): picks a sandbox player, embeds the game from the game's
// origin, and talks to it through RoomServer.CasinoHost. The player's token is fetched from this
// origin's /sandbox/token and handed to the game only in reply to its token.request.
(() => {
  "use strict";

  const FEED_LIMIT = 200;
  const STATE_LOOK = {
    none: ["No game", ""],
    loading: ["Loading", "is-warn"],
    ready: ["Ready", "is-good"],
    busy: ["Spinning", "is-warn"],
    idle: ["Ready", "is-good"],
    paused: ["Paused", "is-warn"],
    error: ["Error", "is-bad"],
    closed: ["Closed", "is-bad"],
  };

  const el = (id) => document.getElementById(id);
  const ui = {
    sdkMissing: el("sdk-missing"),
    player: el("player"),
    play: el("play"),
    note: el("player-note"),
    playerName: el("player-name"),
    balance: el("balance"),
    frameBox: el("frame-box"),
    placeholder: el("frame-placeholder"),
    gameOrigin: el("game-origin"),
    gameState: el("game-state"),
    pause: el("pause"),
    resume: el("resume"),
    refresh: el("refresh"),
    mute: el("mute"),
    rgBox: el("rg-box"),
    rgText: el("rg-text"),
    rgAck: el("rg-ack"),
    connection: el("connection"),
    rounds: el("rounds"),
    lastWin: el("last-win"),
    feed: el("feed"),
    feedCount: el("feed-count"),
  };

  const lobby = {
    settings: null,
    host: null,
    iframe: null,
    player: null,
    currency: "EUR",
    balance: null,
    rounds: 0,
    muted: false,
    paused: false,
    feedCount: 0,
  };

  function money(minor) {
    if (typeof minor !== "number") return "—";
    try {
      return new Intl.NumberFormat("en", { style: "currency", currency: lobby.currency }).format(minor / 100);
    } catch {
      return `${(minor / 100).toFixed(2)} ${lobby.currency}`;
    }
  }

  function setGameState(name) {
    const [label, tone] = STATE_LOOK[name] || [name, ""];
    ui.gameState.dataset.state = name;
    ui.gameState.textContent = label;
    ui.gameState.classList.remove("is-good", "is-warn", "is-bad");
    if (tone) ui.gameState.classList.add(tone);
  }

  function setBalance(balance, currency) {
    if (typeof balance !== "number") return;
    if (currency) lobby.currency = currency;
    const changed = balance !== lobby.balance;
    lobby.balance = balance;
    ui.balance.textContent = money(balance);
    ui.balance.dataset.balance = String(balance);
    if (changed) {
      ui.balance.classList.remove("is-flash");
      void ui.balance.offsetWidth;
      ui.balance.classList.add("is-flash");
    }
  }

  function setControls(enabled) {
    for (const button of [ui.pause, ui.resume, ui.refresh, ui.mute]) button.disabled = !enabled;
    if (enabled) {
      ui.pause.disabled = lobby.paused;
      ui.resume.disabled = !lobby.paused;
    }
  }

  // ------------------------------------------------------------------ the feed

  function clock() {
    const now = new Date();
    return now.toTimeString().slice(0, 8);
  }

  // direction: "in" (game -> casino) or "out" (casino -> game)
  function feed(direction, type, detail) {
    lobby.feedCount += 1;
    ui.feedCount.textContent = String(lobby.feedCount);
    const item = document.createElement("li");
    item.dataset.type = type;
    item.dataset.direction = direction;
    const time = document.createElement("span");
    time.className = "time";
    time.textContent = clock();
    const arrow = document.createElement("span");
    arrow.className = direction === "in" ? "dir-in" : "dir-out";
    arrow.textContent = direction === "in" ? "←" : "→";
    arrow.title = direction === "in" ? "from the game" : "to the game";
    const name = document.createElement("span");
    name.className = "type";
    name.textContent = type;
    item.append(time, arrow, name);
    if (detail) {
      const text = document.createElement("span");
      text.className = "detail";
      text.textContent = detail;
      item.append(text);
    }
    ui.feed.prepend(item);
    while (ui.feed.children.length > FEED_LIMIT) ui.feed.lastElementChild.remove();
  }

  function frameDetail(frame) {
    const payload = frame.payload || {};
    switch (frame.type) {
      case "room.snapshot":
      case "room.resumed":
        return `${payload.status}, balance ${money(payload.you && payload.you.balance)}, ${payload.players_online} online`;
      case "spin.result":
        return `stake ${money(payload.stake)}, win ${money(payload.win)}, balance ${money(payload.balance)}`;
      case "leaderboard.updated":
        return (payload.entries || [])
          .slice(0, 3)
          .map((entry) => `#${entry[3]} ${entry[1]}`)
          .join(", ");
      case "balance":
        return `balance ${money(payload.balance)}`;
      case "rg.reality_check":
        return `${payload.session_s} s played, net ${money(payload.net_result)}`;
      case "room.player.connected":
      case "room.player.disconnected":
        return `${payload.player_id || ""} (${payload.players_online} online)`.trim();
      default:
        return payload.status || "";
    }
  }

  // ------------------------------------------------------------------ the game

  async function fetchToken(reason) {
    const player = lobby.player;
    const response = await fetch(`/sandbox/token?player_id=${encodeURIComponent(player.player_id)}`, {
      cache: "no-store",
      credentials: "same-origin",
    });
    const body = await response.json();
    if (!response.ok) throw new Error(body.message || `token request failed (${response.status})`);
    feed("out", "token.response", `${reason} token for ${body.player_id} (not shown)`);
    return body.token;
  }

  function closeGame() {
    if (lobby.host) {
      try {
        lobby.host.dispose();
      } catch {
        // already gone
      }
    }
    if (lobby.iframe) lobby.iframe.remove();
    lobby.host = null;
    lobby.iframe = null;
    lobby.paused = false;
    lobby.rounds = 0;
    lobby.balance = null;
    ui.rounds.textContent = "0";
    ui.lastWin.textContent = "—";
    ui.balance.textContent = "—";
    ui.balance.dataset.balance = "";
    ui.connection.textContent = "—";
    ui.connection.dataset.state = "";
    ui.rgBox.classList.add("hidden");
    ui.placeholder.classList.remove("hidden");
    setControls(false);
    setGameState("none");
  }

  function openGame() {
    const RS = window.RoomServer;
    const settings = lobby.settings;
    closeGame();
    lobby.player = settings.players.find((player) => player.player_id === ui.player.value);
    ui.playerName.textContent = lobby.player.name;
    ui.placeholder.classList.add("hidden");
    setGameState("loading");

    const iframe = document.createElement("iframe");
    iframe.id = "game";
    iframe.title = "Fruit-3 tournament game";
    iframe.setAttribute("sandbox", "allow-scripts allow-same-origin");
    iframe.setAttribute("allow", "autoplay; fullscreen");
    iframe.setAttribute("referrerpolicy", "no-referrer");
    ui.frameBox.append(iframe);
    lobby.iframe = iframe;

    const host = new RS.CasinoHost({
      iframe,
      gameOrigin: settings.game_origin,
      casinoId: settings.casino_id,
      locale: settings.locale,
      currency: lobby.player.currency,
      getToken: async (reason) => {
        feed("in", "token.request", reason);
        return fetchToken(reason);
      },
    });
    lobby.host = host;

    host.on("hello", (message) => {
      feed("in", "game.hello", `${message.game_id || ""} sdk ${message.sdk_version || ""}`.trim());
      feed("out", "host.hello", `${settings.casino_id}, ${settings.locale}, ${lobby.player.currency}`);
    });
    host.on("ready", (message) => {
      feed("in", "game.ready", `${message.player_id} in ${message.room}`);
      setGameState("ready");
      setControls(true);
    });
    host.on("frame", (frame) => {
      feed("in", `frame: ${frame.type}`, frameDetail(frame));
      const payload = frame.payload || {};
      if (frame.type === "room.snapshot" || frame.type === "room.resumed") {
        setBalance(payload.you && payload.you.balance, payload.config && payload.config.currency);
      } else if (frame.type === "spin.result" || frame.type === "balance") {
        setBalance(payload.balance, payload.currency);
      } else if (frame.type === "rg.reality_check") {
        const seconds = payload.session_s || 0;
        const played = seconds < 60 ? `${seconds} s` : `${Math.round(seconds / 60)} min`;
        ui.rgText.textContent = `Playing for ${played}, net result ${money(payload.net_result)}.`;
        ui.rgBox.classList.remove("hidden");
      }
    });
    host.on("state", (message) => {
      feed("in", "connection.state", `${message.state}${message.reason ? ` (${message.reason})` : ""}`);
      ui.connection.textContent = message.state;
      ui.connection.dataset.state = message.state;
    });
    host.on("roundStarted", (message) => {
      feed("in", "round.started", `key ${String(message.idempotency_key || "").slice(0, 12)}…`);
    });
    host.on("roundEnded", (message) => {
      lobby.rounds += 1;
      ui.rounds.textContent = String(lobby.rounds);
      if (typeof message.win === "number") ui.lastWin.textContent = money(message.win);
      setBalance(message.balance);
      feed("in", "round.ended", `win ${money(message.win)}, balance ${money(message.balance)}`);
    });
    host.on("busy", () => {
      feed("in", "game.busy", "");
      setGameState("busy");
    });
    host.on("idle", () => {
      feed("in", "game.idle", "");
      setGameState(lobby.paused ? "paused" : "idle");
    });
    host.on("cashier", (message) => feed("in", "cashier.request", message.currency || ""));
    host.on("closeRequest", () => {
      feed("in", "close.request", "the player left the game");
      send("game.close", "", (current) => current.closeGame());
      setTimeout(closeGame, 500);
    });
    host.on("tokenError", (failure) => {
      const error = failure.error;
      feed("in", "token.error", error && error.message ? error.message : String(error));
      setGameState("error");
    });
    host.on("gameError", (message) => {
      feed("in", "game.error", `${message.code}: ${message.message}`);
      setGameState("error");
    });

    // The host listens before the frame loads, so the game's hello is never missed.
    iframe.src = settings.game_url;
  }

  function send(type, detail, action) {
    if (!lobby.host) return;
    action(lobby.host);
    feed("out", type, detail);
  }

  function wire() {
    ui.play.addEventListener("click", openGame);
    ui.player.addEventListener("change", () => {
      const player = lobby.settings.players.find((candidate) => candidate.player_id === ui.player.value);
      ui.note.textContent = player && player.note ? player.note : "";
    });
    ui.pause.addEventListener("click", () => {
      send("game.pause", "by the casino", (host) => host.pause("casino"));
      lobby.paused = true;
      setControls(true);
      setGameState("paused");
    });
    ui.resume.addEventListener("click", () => {
      send("game.resume", "", (host) => host.resume("casino"));
      lobby.paused = false;
      setControls(true);
      setGameState("idle");
    });
    ui.refresh.addEventListener("click", () => send("balance.refresh", "", (host) => host.refreshBalance()));
    ui.mute.addEventListener("click", () => {
      lobby.muted = !lobby.muted;
      ui.mute.textContent = lobby.muted ? "Unmute" : "Mute";
      ui.mute.setAttribute("aria-pressed", String(lobby.muted));
      send("audio.set", lobby.muted ? "muted" : "sound on", (host) => host.setMuted(lobby.muted));
    });
    ui.rgAck.addEventListener("click", () => {
      send("rg.ack", "reality_check", (host) => host.ackRealityCheck("reality_check"));
      ui.rgBox.classList.add("hidden");
    });
  }

  async function main() {
    if (typeof window.RoomServer === "undefined") {
      ui.sdkMissing.classList.remove("hidden");
      ui.play.disabled = true;
      ui.player.disabled = true;
      return;
    }
    const response = await fetch("/config.json", { cache: "no-store" });
    lobby.settings = await response.json();
    ui.gameOrigin.textContent = `served by ${lobby.settings.game_origin}`;
    for (const player of lobby.settings.players) {
      const option = document.createElement("option");
      option.value = player.player_id;
      option.textContent = `${player.name} · ${player.player_id}`;
      ui.player.append(option);
    }
    ui.player.dispatchEvent(new Event("change"));
    wire();
    setControls(false);
    setGameState("none");
  }

  main().catch((error) => {
    ui.sdkMissing.textContent = `The lobby could not start: ${error.message || error}`;
    ui.sdkMissing.classList.remove("hidden");
  });
})();
