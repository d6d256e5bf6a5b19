// The console's link to paycode: the operator's session, GraphQL over
// HTTP, and subscriptions over a WebSocket (graphql-transport-ws).
//
// The token lives in sessionStorage: this tab and this origin only, gone
// when the tab closes, and never sent by the browser on its own (it is not
// a cookie), so another site cannot make the browser use it. The server's
// Content-Security-Policy lets no script but the console's own run here.

const TOKEN_KEY = "paycode.token";

export const session = {
  get token() {
    return sessionStorage.getItem(TOKEN_KEY);
  },
  set token(value) {
    if (value) sessionStorage.setItem(TOKEN_KEY, value);
    else sessionStorage.removeItem(TOKEN_KEY);
  },
  /** `me`: name, role (VIEWER, OPERATOR, ADMIN), merchant scope or null. */
  me: null,
};

const RANK = { VIEWER: 0, OPERATOR: 1, ADMIN: 2 };

/** Whether the signed-in token holds `role` (or a higher one). */
export function can(role) {
  return session.me !== null && RANK[session.me.role] >= RANK[role];
}

/** An error the API answered with: its code and message. */
export class ApiError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code;
  }
}

/** Runs a query or mutation; resolves to `data`, rejects with an ApiError. */
export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${session.token ?? ""}`,
      },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw new ApiError("NETWORK", `paycode did not answer: ${error.message}`);
  }
  let body;
  try {
    body = await response.json();
  } catch {
    throw new ApiError("BAD_ANSWER", `paycode answered ${response.status} without JSON`);
  }
  if (body.errors && body.errors.length > 0) {
    const first = body.errors[0];
    const error = new ApiError(first.extensions?.code ?? "UNKNOWN", first.message);
    if (error.code === "UNAUTHENTICATED") window.dispatchEvent(new Event("paycode:signed-out"));
    throw error;
  }
  return body.data;
}

/**
 * Follows a subscription with one root field; calls `onData(data)` for each
 * payload. Reconnects after a drop, passing the last `asOf` seen as `after`
 * when the subscription takes it, so nothing is missed. Returns a function
 * that stops it.
 */
export function subscribe(query, variables, onData) {
  let socket = null;
  let stopped = false;
  let after = variables.after ?? null;
  let retry = 500;
  const open = () => {
    if (stopped) return;
    const scheme = location.protocol === "https:" ? "wss:" : "ws:";
    socket = new WebSocket(`${scheme}//${location.host}/graphql/ws`, "graphql-transport-ws");
    socket.onopen = () => {
      socket.send(JSON.stringify({
        type: "connection_init",
        payload: { authorization: `Bearer ${session.token ?? ""}` },
      }));
    };
    socket.onmessage = (message) => {
      const frame = JSON.parse(message.data);
      if (frame.type === "connection_ack") {
        retry = 500;
        const vars = after === null ? variables : { ...variables, after };
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables: vars } }));
      } else if (frame.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      } else if (frame.type === "next" && frame.payload.data) {
        const data = frame.payload.data;
        const root = Object.values(data)[0];
        if (root && root.asOf !== undefined) after = root.asOf;
        onData(data);
      }
    };
    socket.onclose = (event) => {
      // 4401/4403: the token is not good any more; the rest is a drop.
      if (event.code === 4401 || event.code === 4403) {
        window.dispatchEvent(new Event("paycode:signed-out"));
        return;
      }
      if (!stopped) {
        setTimeout(open, retry);
        retry = Math.min(retry * 2, 10_000);
      }
    };
  };
  open();
  return () => {
    stopped = true;
    if (socket) socket.close();
  };
}
