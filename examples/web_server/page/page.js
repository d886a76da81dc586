// The page of examples/web_server: a conversation live, and a form that
// posts to it. Plain JavaScript, no library, nothing from elsewhere.
//
// The conversation comes from GET /sessions/{id}/events, read with fetch()
// rather than EventSource: EventSource cannot send an Authorization header,
// and the ways around that cost more than they give (a token in the URL
// lands in logs and history; a cookie would need CSRF defences on every
// route that writes). A stream read by fetch() sends the same header as
// every other request, and Last-Event-ID to resume after a cut; this file
// reads the events itself.
//
// Text goes into the page as text (textContent), never as HTML.
"use strict";

const $ = (id) => document.getElementById(id);
// A stream silent this long (the server says it is alive every 15 s by
// default) is taken for dead, and replaced.
const SILENCE_MS = 60000;

// The open conversation: {session, token, controller, lastId}.
let live = null;

function setStatus(state, text) {
  $("status").dataset.state = state;
  $("status").textContent = text;
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// What a LangChain message says: its text, or the tools it calls.
function textOf(message) {
  const content = message.data.content;
  const text = typeof content === "string" ? content : (content || [])
    .map((part) => (typeof part === "string" ? part : (part && part.text) || ""))
    .join("");
  const calls = (message.data.tool_calls || []).map((call) => call.name);
  return text || (calls.length ? "calls " + calls.join(", ") : "");
}

// When a message was stored (RFC 3339, UTC), in microseconds: messages are
// shown in that order, whatever order they became final in.
function storedAt(createdAt) {
  const fraction = /\.(\d+)/.exec(createdAt);
  const micros = fraction ? Number((fraction[1] + "00000").slice(0, 6)) : 0;
  return Math.floor(Date.parse(createdAt) / 1000) * 1e6 + micros;
}

function before(a, b) {
  const x = Number(a.dataset.at);
  const y = Number(b.dataset.at);
  return x < y || (x === y && a.dataset.id < b.dataset.id);
}

// Shows a message event's data ({id, created_at, message}), once: a
// message already shown (the same row id) is not shown again.
function show(data) {
  const key = "m-" + data.id;
  if (document.getElementById(key)) return;
  const item = document.createElement("li");
  item.id = key;
  item.dataset.id = data.id;
  item.dataset.at = String(storedAt(data.created_at));
  item.dataset.type = data.message.type;
  item.dataset.shownAt = String(Date.now());
  const who = document.createElement("span");
  who.className = "who";
  who.textContent = data.message.type;
  const text = document.createElement("span");
  text.className = "text";
  text.textContent = textOf(data.message);
  item.append(who, text);
  // After the last one stored before it: most often, at the end.
  const list = $("messages");
  let after = list.lastElementChild;
  while (after && before(item, after)) after = after.previousElementSibling;
  list.insertBefore(item, after ? after.nextElementSibling : list.firstElementChild);
  if (item === list.lastElementChild) item.scrollIntoView({ block: "nearest" });
}

// Reads the server-sent events of a response body, calling onEvent({event,
// data, id}) for each, until the body ends, onEvent returns false, or
// nothing came for SILENCE_MS (not even a heartbeat).
async function readEvents(body, onEvent) {
  const reader = body.pipeThrough(new TextDecoderStream()).getReader();
  let watchdog = null;
  const arm = () => {
    clearTimeout(watchdog);
    watchdog = setTimeout(() => reader.cancel(), SILENCE_MS);
  };
  let buffer = "";
  try {
    arm();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      arm();
      buffer += value.replace(/\r\n?/g, "\n");
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const event = { event: "message", data: [], id: null };
        for (const line of block.split("\n")) {
          // Empty, or a comment: a heartbeat.
          if (line === "" || line.startsWith(":")) continue;
          const colon = line.indexOf(":");
          const field = colon < 0 ? line : line.slice(0, colon);
          let value = colon < 0 ? "" : line.slice(colon + 1);
          if (value.startsWith(" ")) value = value.slice(1);
          if (field === "event") event.event = value;
          else if (field === "data") event.data.push(value);
          else if (field === "id") event.id = value;
        }
        if (event.data.length === 0) continue;
        if (onEvent({ ...event, data: JSON.parse(event.data.join("\n")) }) === false) {
          await reader.cancel();
          return;
        }
      }
    }
  } finally {
    clearTimeout(watchdog);
  }
}

async function errorOf(response) {
  try {
    return (await response.json()).error;
  } catch {
    return response.status + " " + response.statusText;
  }
}

function path(conn, route) {
  return "/sessions/" + encodeURIComponent(conn.session) + "/" + route;
}

// Follows the conversation until another is opened: from the beginning,
// then after the last message's id whenever the stream must be opened
// again (a cut, a server that stopped), waiting longer after each failure.
async function follow(conn) {
  const signal = conn.controller.signal;
  let delay = 500;
  while (!signal.aborted) {
    const headers = { authorization: "Bearer " + conn.token, accept: "text/event-stream" };
    if (conn.lastId) headers["last-event-id"] = conn.lastId;
    let deleted = false;
    try {
      const response = await fetch(path(conn, "events"), { headers, signal, cache: "no-store" });
      if (!response.ok) {
        const error = await errorOf(response);
        // A wrong token or session name: trying again changes nothing.
        if (response.status < 500) return setStatus("error", error);
        throw new Error(error);
      }
      setStatus("live", "Live: " + conn.session);
      delay = 500;
      await readEvents(response.body, (event) => {
        if (event.event === "message") {
          conn.lastId = event.id;
          show(event.data);
        } else if (event.event === "deleted") {
          deleted = true;
          return false;
        } else if (event.event === "error") {
          setStatus("reconnecting", event.data.error);
        }
        return true;
      });
    } catch (err) {
      if (signal.aborted) return;
      setStatus("reconnecting", "Reconnecting: " + err.message);
    }
    if (signal.aborted) return;
    if (deleted) {
      // The stream says how many were deleted, not which: show the
      // conversation anew, from its beginning.
      $("messages").replaceChildren();
      conn.lastId = null;
      continue;
    }
    setStatus("reconnecting", "Reconnecting…");
    await sleep(delay);
    delay = Math.min(delay * 2, 10000);
  }
}

function busy(yes) {
  for (const id of ["text", "post", "ask"]) $(id).disabled = yes || live === null;
}

function randomKey() {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

// Shows the model's reply as it streams; the stored exchange then comes
// through the conversation's own stream, like every other message.
async function streamReply(body) {
  const reply = $("reply");
  reply.textContent = "";
  reply.hidden = false;
  try {
    await readEvents(body, (event) => {
      if (event.event === "token") reply.textContent += event.data.text;
      else if (event.event === "error") setStatus("error", event.data.error);
      return true;
    });
  } finally {
    reply.hidden = true;
    reply.textContent = "";
  }
}

// Posts the user's message: to `messages`, or to `chat` for the model's
// reply too. One Idempotency-Key for every try, so that a try whose answer
// was lost stores nothing twice.
async function send(route) {
  const conn = live;
  const input = $("text");
  const text = input.value.trim();
  if (!conn || !text) return;
  const request = {
    method: "POST",
    headers: {
      authorization: "Bearer " + conn.token,
      "content-type": "application/json",
      "idempotency-key": randomKey(),
    },
    body: JSON.stringify({ role: "user", content: text }),
  };
  busy(true);
  try {
    let response = null;
    for (let attempt = 1; ; attempt++) {
      try {
        response = await fetch(path(conn, route), request);
        if (response.status !== 503 || attempt === 3) break;
      } catch (err) {
        if (attempt === 3) throw err;
      }
      await sleep(1000);
    }
    if (!response.ok) return setStatus("error", await errorOf(response));
    if (route === "chat") await streamReply(response.body);
    input.value = "";
  } catch (err) {
    setStatus("error", "Not sent: " + err.message);
  } finally {
    busy(false);
    input.focus();
  }
}

// Opens a conversation, in place of the one open. The token is kept in
// sessionStorage, so that a reload reopens it: this tab's only, gone with
// it, and readable only by this page's script (the CSP runs no other).
function open(session, token) {
  if (live) live.controller.abort();
  $("messages").replaceChildren();
  live = { session, token, controller: new AbortController(), lastId: null };
  sessionStorage.setItem("session", session);
  sessionStorage.setItem("token", token);
  busy(false);
  setStatus("connecting", "Connecting…");
  follow(live);
}

$("open").addEventListener("submit", (event) => {
  event.preventDefault();
  open($("session").value.trim(), $("token").value.trim());
});
$("send").addEventListener("submit", (event) => {
  event.preventDefault();
  send(event.submitter && event.submitter.value === "chat" ? "chat" : "messages");
});
const saved = [sessionStorage.getItem("session"), sessionStorage.getItem("token")];
if (saved[0] && saved[1]) {
  $("session").value = saved[0];
  $("token").value = saved[1];
  open(saved[0], saved[1]);
}
