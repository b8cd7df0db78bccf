// Sign in and sign up. The API answers both by setting the session cookie; this page never
// sees a token.
import { useState } from "preact/hooks";
import { api } from "../api.js";
import { Problem, useSubmit } from "../ui.jsx";

export function AuthPage({ onSignedIn }) {
  const [mode, setMode] = useState("signin");
  const { busy, error, run } = useSubmit();
  const signingUp = mode === "signup";

  const submit = (e) => {
    e.preventDefault();
    const f = new FormData(e.currentTarget);
    run(async () => {
      const body = { email: f.get("email"), password: f.get("password") };
      if (signingUp) body.name = f.get("name");
      const session = await api.post(signingUp ? "/dashboard/signup" : "/dashboard/login", body);
      onSignedIn(session.user);
    });
  };

  return (
    <main class="auth">
      <h1>{signingUp ? "Create your PostBridge account" : "Sign in to PostBridge"}</h1>
      <form onSubmit={submit} class="card stack" key={mode}>
        {signingUp && (
          <p class="field">
            <label for="name">Name</label>
            <input id="name" name="name" autocomplete="name" required maxLength={100} />
          </p>
        )}
        <p class="field">
          <label for="email">Email</label>
          <input id="email" name="email" type="email" autocomplete="email" required />
        </p>
        <p class="field">
          <label for="password">Password</label>
          <input
            id="password"
            name="password"
            type="password"
            autocomplete={signingUp ? "new-password" : "current-password"}
            required
            minLength={signingUp ? 8 : undefined}
          />
        </p>
        <Problem error={error} />
        <button type="submit" class="primary" disabled={busy}>
          {signingUp ? "Sign up" : "Sign in"}
        </button>
      </form>
      <p>
        {signingUp ? "Already have an account? " : "New to PostBridge? "}
        <button type="button" class="link" onClick={() => setMode(signingUp ? "signin" : "signup")}>
          {signingUp ? "Sign in instead" : "Create an account"}
        </button>
      </p>
    </main>
  );
}
