// The tournament game page (game origin), embedded by the casino lobby in an iframe.
//
// It holds the WebSocket to the room server (RoomServer.RoomClient) and talks to the casino
// through RoomServer.GameBridge: the token comes from the casino in reply to token.request,
// every server frame is forwarded to it, and it may pause, resume, mute or close the game.
(() => {
  "use strict";

  const SYMBOL_NAMES = ["BLANK", "CHERRY", "LEMON", "BELL", "BAR", "SEVEN"];
  const STAKES = [10, 50, 100, 200, 500, 1000, 5000, 10000];
  const DEFAULT_STAKE = 100;
  const RULES = {
    three_sevens: "Three sevens",
    three_bars: "Three bars",
    three_bells: "Three bells",
    three_lemons: "Three lemons",
    three_cherries: "Three cherries",
    any_bars: "Any bars",
    two_cherries: "Two cherries",
    one_cherry: "Cherry",
  };
  const SCORING = {
    total_win: "total win",
    biggest_multiplier: "biggest multiplier",
    win_to_bet_ratio: "win / bet",
  };
  const STATUS_LOOK = {
    running: ["Running", "is-good"],
    scheduled: ["Starts soon", "is-warn"],
    completing: ["Completing", "is-warn"],
    completed: ["Completed", "is-bad"],
    cancelled: ["Cancelled", "is-bad"],
  };
  const CONNECTION_LOOK = {
    idle: ["Offline", "is-bad"],
    connecting: ["Connecting", "is-warn"],
    open: ["Connected", "is-good"],
    reconnecting: ["Reconnecting", "is-warn"],
    closed: ["Offline", "is-bad"],
  };
  const ERROR_TEXT = {
    INSUFFICIENT_FUNDS: "Not enough chips for this stake.",
    STAKE_OUT_OF_RANGE: "That stake is outside the table limits.",
    RG_BLOCKED: "Play is blocked by a responsible-gaming limit.",
    TOURNAMENT_NOT_RUNNING: "The tournament is not running.",
    RATE_LIMITED: "Slow down a little.",
    NOT_IN_ROOM: "You are not in the tournament room.",
    DRAINING: "The server is restarting; trying again.",
  };

  const el = (id) => document.getElementById(id);
  const ui = {
    sdkMissing: el("sdk-missing"),
    name: el("tournament-name"),
    status: el("status"),
    countdown: el("countdown"),
    online: el("online"),
    connection: el("connection"),
    reels: el("reels"),
    outcome: el("outcome"),
    balance: el("balance"),
    stakes: el("stakes"),
    spin: el("spin"),
    seedHash: el("seed-hash"),
    pauseOverlay: el("pause-overlay"),
    pauseReason: el("pause-reason"),
    rgOverlay: el("rg-overlay"),
    rgText: el("rg-text"),
    rgContinue: el("rg-continue"),
    rgLeave: el("rg-leave"),
    fatalOverlay: el("fatal-overlay"),
    fatalTitle: el("fatal-title"),
    fatalText: el("fatal-text"),
    leaderboard: el("leaderboard"),
    scoring: el("scoring"),
    youRank: el("you-rank"),
    youScore: el("you-score"),
    toasts: el("toasts"),
  };

  const state = {
    settings: null,
    client: null,
    bridge: null,
    room: "",
    playerId: "",
    locale: "en",
    currency: "EUR",
    scoring: "total_win",
    minStake: 10,
    maxStake: 10000,
    stake: DEFAULT_STAKE,
    balance: null,
    score: null,
    rank: null,
    endsAt: null,
    status: "",
    leaderboard: [],
    joined: false,
    spinning: false,
    paused: false,
    pauseWanted: null,
    realityCheck: false,
    muted: false,
    fatal: false,
    connection: "connecting",
  };

  // ------------------------------------------------------------------ formatting

  function money(minor) {
    if (typeof minor !== "number") return "—";
    try {
      return new Intl.NumberFormat(state.locale, { style: "currency", currency: state.currency }).format(minor / 100);
    } catch {
      return `${(minor / 100).toFixed(2)} ${state.currency}`;
    }
  }

  function scoreText(score) {
    if (typeof score !== "number") return "—";
    return state.scoring === "total_win" ? money(score) : score.toLocaleString(state.locale);
  }

  function duration(seconds) {
    const plural = (n, unit) => `${n} ${unit}${n === 1 ? "" : "s"}`;
    if (seconds < 60) return plural(Math.round(seconds), "second");
    if (seconds < 3600) return plural(Math.round(seconds / 60), "minute");
    const hours = Math.floor(seconds / 3600);
    const minutes = Math.round((seconds % 3600) / 60);
    return minutes ? `${plural(hours, "hour")} ${plural(minutes, "minute")}` : plural(hours, "hour");
  }

  function look(element, [label, tone]) {
    element.textContent = label;
    element.classList.remove("is-good", "is-warn", "is-bad");
    if (tone) element.classList.add(tone);
  }

  function symbolSvg(name) {
    const known = SYMBOL_NAMES.includes(name) ? name : "BLANK";
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("class", "sym");
    svg.setAttribute("aria-hidden", "true");
    const use = document.createElementNS("http://www.w3.org/2000/svg", "use");
    use.setAttribute("href", `/assets/symbols.svg#sym-${known}`);
    svg.append(use);
    return svg;
  }

  function toast(text, info = false) {
    const item = document.createElement("div");
    item.className = info ? "toast is-info" : "toast";
    item.textContent = text;
    ui.toasts.append(item);
    setTimeout(() => item.remove(), 4000);
  }

  function errorText(error) {
    if (!error) return "Something went wrong.";
    if (error.code && ERROR_TEXT[error.code]) return ERROR_TEXT[error.code];
    if (error.name === "SpinOutcomeUnknownError") return "The connection dropped; the spin's outcome is not known yet.";
    if (error.name === "RequestTimeoutError") return "The server did not answer in time.";
    return error.message || String(error);
  }

  // ------------------------------------------------------------------ rendering

  function renderBalance() {
    ui.balance.textContent = money(state.balance);
    ui.balance.dataset.balance = state.balance === null ? "" : String(state.balance);
  }

  function renderStakes() {
    ui.stakes.replaceChildren();
    const choices = STAKES.filter((stake) => stake >= state.minStake && stake <= state.maxStake);
    if (!choices.includes(state.stake)) state.stake = choices.includes(DEFAULT_STAKE) ? DEFAULT_STAKE : choices[0];
    for (const stake of choices) {
      const chip = document.createElement("button");
      chip.type = "button";
      chip.className = "chip";
      chip.dataset.stake = String(stake);
      chip.setAttribute("role", "radio");
      chip.setAttribute("aria-checked", String(stake === state.stake));
      chip.textContent = stake >= 100 ? money(stake).replace(/[.,]00(?=\D*$)/, "") : money(stake);
      chip.addEventListener("click", () => {
        state.stake = stake;
        renderStakes();
        renderControls();
      });
      ui.stakes.append(chip);
    }
    renderControls();
  }

  function canSpin() {
    return (
      state.joined &&
      !state.spinning &&
      !state.paused &&
      !state.realityCheck &&
      !state.fatal &&
      state.connection === "open" &&
      state.status === "running" &&
      (state.balance === null || state.balance >= state.stake)
    );
  }

  function renderControls() {
    ui.spin.disabled = !canSpin();
    ui.spin.classList.toggle("is-busy", state.spinning);
    for (const chip of ui.stakes.children) chip.disabled = state.spinning;
  }

  function renderStatus() {
    ui.status.dataset.status = state.status;
    look(ui.status, STATUS_LOOK[state.status] || [state.status || "—", ""]);
    renderCountdown();
    renderControls();
  }

  function renderCountdown() {
    const ends = state.endsAt ? Date.parse(state.endsAt) : NaN;
    ui.countdown.dataset.endsAt = state.endsAt || "";
    if (Number.isNaN(ends)) {
      ui.countdown.textContent = state.status === "running" ? "Open-ended" : "—";
      ui.countdown.title = "No end time: hop on, hop off";
      return;
    }
    const left = Math.max(0, Math.floor((ends - Date.now()) / 1000));
    const hours = Math.floor(left / 3600);
    const minutes = Math.floor((left % 3600) / 60);
    const seconds = left % 60;
    const pad = (n) => String(n).padStart(2, "0");
    ui.countdown.textContent = left === 0 ? "Ended" : `${hours ? `${hours}:` : ""}${pad(minutes)}:${pad(seconds)}`;
    ui.countdown.title = `Ends at ${new Date(ends).toLocaleString(state.locale)}`;
  }

  function renderConnection() {
    ui.connection.dataset.state = state.connection;
    look(ui.connection, CONNECTION_LOOK[state.connection] || [state.connection, "is-warn"]);
    renderControls();
  }

  function renderLeaderboard(changed = []) {
    const moved = new Set(changed.map((change) => change[0]));
    ui.leaderboard.replaceChildren();
    if (state.leaderboard.length === 0) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = "No scores yet: be the first!";
      ui.leaderboard.append(empty);
    }
    for (const [playerId, name, score, rank] of state.leaderboard) {
      const row = document.createElement("li");
      row.dataset.playerId = playerId;
      row.dataset.rank = String(rank);
      row.dataset.score = String(score);
      if (playerId === state.playerId) row.classList.add("is-you");
      if (moved.has(playerId)) row.classList.add("is-moved");
      const badge = document.createElement("span");
      badge.className = `rank rank-${rank}`;
      badge.textContent = String(rank);
      const label = document.createElement("span");
      label.className = "lb-name";
      label.textContent = name;
      if (playerId === state.playerId) label.title = "You";
      const points = document.createElement("span");
      points.className = "lb-score";
      points.textContent = scoreText(score);
      row.append(badge, label, points);
      ui.leaderboard.append(row);
    }
    const mine = state.leaderboard.find((entry) => entry[0] === state.playerId);
    if (mine) {
      state.rank = mine[3];
      state.score = mine[2];
    }
    ui.youRank.textContent = state.rank ? `#${state.rank}` : "unranked";
    ui.youScore.textContent = scoreText(state.score);
  }

  function renderOverlays() {
    ui.pauseOverlay.classList.toggle("hidden", !state.paused || state.fatal);
    ui.rgOverlay.classList.toggle("hidden", !state.realityCheck || state.fatal);
    ui.fatalOverlay.classList.toggle("hidden", !state.fatal);
    renderControls();
  }

  function showFatal(title, text) {
    state.fatal = true;
    if (!state.joined) ui.name.textContent = "Not connected";
    ui.fatalTitle.textContent = title;
    ui.fatalText.textContent = text;
    renderOverlays();
  }

  // ------------------------------------------------------------------ reels

  // Each reel shows three rows: the symbol on the payline and its neighbours on the reel strip
  // (the strips come from the server's settings; without them the neighbours are blank).
  const ROWS = 3;
  let spinTimer = null;

  function reelElements() {
    return [...ui.reels.querySelectorAll(".reel")];
  }

  function neighbours(reelIndex, stop, symbol) {
    const strip = state.settings && state.settings.reels ? state.settings.reels[reelIndex] : null;
    if (!strip || typeof stop !== "number") return ["BLANK", symbol, "BLANK"];
    const at = (offset) => strip[(((stop + offset) % strip.length) + strip.length) % strip.length];
    return [at(-1), symbol || at(0), at(1)];
  }

  function fillReel(reel, names) {
    const cells = names.map((name, row) => {
      const cell = document.createElement("div");
      cell.className = row === 1 ? "cell is-payline" : "cell";
      cell.dataset.symbol = name;
      cell.append(symbolSvg(name));
      return cell;
    });
    reel.replaceChildren(...cells);
  }

  function showReels(symbols, stops) {
    reelElements().forEach((reel, index) => {
      reel.classList.remove("is-spinning");
      fillReel(reel, neighbours(index, stops ? stops[index] : null, symbols[index]));
    });
    ui.reels.dataset.symbols = symbols.join(" ");
  }

  function randomSymbol() {
    return SYMBOL_NAMES[1 + Math.floor(Math.random() * (SYMBOL_NAMES.length - 1))];
  }

  function startReels() {
    ui.reels.classList.remove("is-win");
    const reels = reelElements();
    for (const reel of reels) reel.classList.add("is-spinning");
    clearInterval(spinTimer);
    spinTimer = setInterval(() => {
      for (const reel of reels) {
        if (reel.classList.contains("is-spinning")) fillReel(reel, Array.from({ length: ROWS }, randomSymbol));
      }
    }, 80);
  }

  async function stopReels(symbols, stops) {
    const reels = reelElements();
    for (let index = 0; index < reels.length; index += 1) {
      await new Promise((resolve) => setTimeout(resolve, index === 0 ? 150 : 180));
      const reel = reels[index];
      reel.classList.remove("is-spinning");
      reel.classList.add("is-stopping");
      fillReel(reel, neighbours(index, stops ? stops[index] : null, symbols[index]));
      setTimeout(() => reel.classList.remove("is-stopping"), 300);
    }
    clearInterval(spinTimer);
    ui.reels.dataset.symbols = symbols.join(" ");
  }

  function haltReels() {
    clearInterval(spinTimer);
    for (const reel of reelElements()) reel.classList.remove("is-spinning");
  }

  // ------------------------------------------------------------------ sound

  let audio = null;

  function chime(multiplier) {
    if (state.muted || !window.AudioContext) return;
    try {
      audio = audio || new AudioContext();
      const notes = multiplier >= 25 ? [523, 659, 784, 1047] : [659, 784];
      notes.forEach((frequency, index) => {
        const oscillator = audio.createOscillator();
        const gain = audio.createGain();
        oscillator.frequency.value = frequency;
        oscillator.type = "triangle";
        const start = audio.currentTime + index * 0.09;
        gain.gain.setValueAtTime(0.0001, start);
        gain.gain.exponentialRampToValueAtTime(0.12, start + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, start + 0.3);
        oscillator.connect(gain).connect(audio.destination);
        oscillator.start(start);
        oscillator.stop(start + 0.32);
      });
    } catch {
      // No sound is no problem.
    }
  }

  // ------------------------------------------------------------------ room state

  function applySnapshot(payload) {
    const config = payload.config || {};
    state.currency = config.currency || state.currency;
    state.scoring = config.scoring || state.scoring;
    state.minStake = config.min_stake ?? state.minStake;
    state.maxStake = config.max_stake ?? state.maxStake;
    state.endsAt = config.ends_at || null;
    state.status = payload.status || state.status;
    state.playerId = payload.you ? payload.you.player_id : state.playerId;
    state.balance = payload.you ? payload.you.balance : state.balance;
    state.score = payload.you ? payload.you.score : state.score;
    state.rank = payload.you ? payload.you.rank : state.rank;
    state.leaderboard = payload.leaderboard || [];
    state.joined = true;
    ui.name.textContent = config.name ? `${config.name} · ${config.kind === "hop_on_off" ? "hop on / hop off" : "scheduled"}` : state.room;
    ui.scoring.textContent = SCORING[state.scoring] || state.scoring;
    ui.seedHash.textContent = payload.server_seed_hash || "—";
    setOnline(payload.players_online);
    renderBalance();
    renderStakes();
    renderStatus();
    renderLeaderboard();
  }

  function setOnline(count) {
    if (typeof count === "number") ui.online.textContent = `${count} online`;
  }

  function applyResult(result) {
    state.balance = result.balance;
    state.score = result.score;
    if (result.rank !== undefined) state.rank = result.rank;
    renderBalance();
    renderLeaderboard();
    const outcome = result.outcome || {};
    const won = result.win > 0;
    ui.outcome.dataset.win = String(result.win);
    ui.outcome.classList.toggle("is-win", won);
    ui.reels.classList.toggle("is-win", won);
    ui.outcome.textContent = won
      ? `${RULES[outcome.rule] || "Win"} ×${outcome.multiplier} — you win ${money(result.win)}`
      : "No win this time";
    if (won) chime(outcome.multiplier || 1);
  }

  async function spin() {
    if (!canSpin()) return;
    state.spinning = true;
    renderControls();
    ui.outcome.textContent = "Spinning…";
    ui.outcome.classList.remove("is-win");
    startReels();
    try {
      const result = await state.client.spin(state.room, { stake: state.stake });
      await stopReels(result.outcome.symbols, result.outcome.stops);
      applyResult(result);
    } catch (error) {
      haltReels();
      ui.outcome.textContent = "Spin not placed";
      toast(errorText(error));
    } finally {
      state.spinning = false;
      if (state.pauseWanted !== null) {
        state.paused = true;
        ui.pauseReason.textContent = state.pauseWanted;
        state.pauseWanted = null;
      }
      renderOverlays();
    }
  }

  function pause(reason) {
    const text = reason ? `The casino paused the game (${reason}).` : "The casino paused the game.";
    if (state.spinning) {
      state.pauseWanted = text;
      return;
    }
    state.paused = true;
    ui.pauseReason.textContent = text;
    renderOverlays();
  }

  function resume() {
    state.paused = false;
    state.pauseWanted = null;
    renderOverlays();
  }

  function realityCheck(frame) {
    const payload = frame.payload || {};
    const net = typeof payload.net_result === "number" ? payload.net_result : 0;
    ui.rgText.textContent = `You have been playing for ${duration(payload.session_s || 0)}. Net result this session: ${net >= 0 ? "+" : "−"}${money(Math.abs(net))}.`;
    state.realityCheck = true;
    renderOverlays();
  }

  function acknowledgeRealityCheck() {
    state.realityCheck = false;
    renderOverlays();
  }

  function onState(change) {
    state.connection = change.state;
    renderConnection();
    if (change.state === "closed" && change.reason !== "closed") {
      const texts = {
        forbidden: ["Play is blocked", "This account may not play: responsible-gaming self-exclusion, or the session was revoked."],
        replaced: ["Opened elsewhere", "The game was opened in another window; this one is closed."],
        "gave-up": ["Connection lost", "The game could not reconnect. Reload to try again."],
      };
      const [title, text] = texts[change.reason] || ["Disconnected", `The connection closed (${change.reason}).`];
      showFatal(title, text);
      if (state.bridge && typeof state.bridge.error === "function") state.bridge.error(change.reason.toUpperCase(), text);
    }
  }

  // ------------------------------------------------------------------ start

  async function main() {
    showReels(["SEVEN", "SEVEN", "SEVEN"], null);
    if (typeof window.RoomServer === "undefined") {
      ui.sdkMissing.classList.remove("hidden");
      ui.name.textContent = "The browser SDK did not load";
      state.connection = "closed";
      renderConnection();
      return;
    }
    const RS = window.RoomServer;
    const response = await fetch("/config.json", { cache: "no-store" });
    const settings = await response.json();
    state.settings = settings;
    state.room = settings.room;
    showReels(["SEVEN", "SEVEN", "SEVEN"], [0, 0, 0]);
    renderStakes();
    renderCountdown();
    setInterval(renderCountdown, 1000);

    if (window.parent === window) {
      state.connection = "closed";
      renderConnection();
      showFatal("Open the game from the casino", `This game runs inside the casino lobby (${settings.casino_origin}).`);
      return;
    }

    const bridge = new RS.GameBridge({ hostOrigin: settings.casino_origin, gameId: settings.game_id });
    state.bridge = bridge;
    bridge.on("pause", (message) => pause(message && message.reason));
    bridge.on("resume", () => resume());
    bridge.on("audio", (message) => {
      state.muted = Boolean(message && message.muted);
    });
    bridge.on("rgAck", () => acknowledgeRealityCheck());
    // The bridge asks the attached client for the balance itself; the reply is a `balance` event.
    bridge.on("close", () => showFatal("Game closed", "The casino closed the game."));

    const hello = await bridge.hello();
    if (hello && hello.locale) state.locale = hello.locale;

    const client = new RS.RoomClient({
      url: settings.ws_url,
      getToken: (reason) => bridge.requestToken(reason),
      requestTimeoutMs: 10000,
      backoff: { minMs: 250, maxMs: 5000 },
    });
    state.client = client;
    bridge.attach(client);
    client.on("state", onState);
    client.on("snapshot", (event) => {
      if (event.rejoin) applySnapshot(event.payload);
    });
    client.on("leaderboard", (frame) => {
      state.leaderboard = frame.payload.entries;
      renderLeaderboard(frame.payload.changed || []);
    });
    client.on("presence", (frame) => setOnline(frame.payload && frame.payload.players_online));
    client.on("tournament", (frame) => {
      state.status = frame.payload.status;
      if (frame.payload.ends_at) state.endsAt = frame.payload.ends_at;
      if (frame.type === "room.tournament.completed") {
        state.leaderboard = frame.payload.standings.slice(0, 10);
        renderLeaderboard();
        toast("The tournament is over: final standings are in.", true);
      }
      renderStatus();
    });
    client.on("balance", (frame) => {
      state.balance = frame.payload.balance;
      renderBalance();
      renderControls();
    });
    client.on("score", (frame) => {
      state.score = frame.payload.score;
      state.rank = frame.payload.rank;
      renderLeaderboard();
    });
    client.on("realityCheck", realityCheck);
    client.on("draining", () => toast("The server is restarting; reconnecting…", true));

    await client.connect();
    const snapshot = await client.join(state.room);
    applySnapshot(snapshot);
    bridge.ready(state.room, state.playerId);
  }

  ui.spin.addEventListener("click", () => void spin());
  ui.rgContinue.addEventListener("click", acknowledgeRealityCheck);
  ui.rgLeave.addEventListener("click", () => {
    acknowledgeRealityCheck();
    if (state.bridge && typeof state.bridge.requestClose === "function") state.bridge.requestClose();
  });
  document.addEventListener("keydown", (event) => {
    if (event.code === "Space" && event.target === document.body) {
      event.preventDefault();
      void spin();
    }
  });

  main().catch((error) => {
    if (state.fatal) return;
    showFatal("The game could not start", errorText(error));
    if (state.bridge && typeof state.bridge.error === "function") state.bridge.error("START_FAILED", errorText(error));
  });
})();
