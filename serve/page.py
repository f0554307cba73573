"""The page `mycelium serve` shows at `/`: type or paste a problem, see the answer, the program and
the problem text with each step's words highlighted. It posts to `/v1/solve` with `"html": true`
and shows the fragment the server renders (inference/render.py, the eval report's rendering), so
the page holds no solving or rendering logic of its own."""

from __future__ import annotations

from mycelium.inference.render import SOLUTION_STYLE

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Mycelium solver</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>
body { font: 15px/1.45 system-ui, sans-serif; margin: 24px auto; color: #222; max-width: 860px; }
textarea { width: 100%; height: 120px; font: inherit; padding: 6px; box-sizing: border-box; }
button { font: inherit; padding: 6px 18px; margin: 8px 0; }
#error { color: #b00; }
.hint { color: #666; font-size: 13px; }
""" + SOLUTION_STYLE + """
</style></head>
<body>
<h1>Mycelium solver</h1>
<p class="hint">Model <code>{{MODEL}}</code>: trained specialists build a program, exact
arithmetic runs it. No chain-of-thought, no gold answer. The API is OpenAI-compatible
(<code>/v1/chat/completions</code>) and <code>/v1/solve</code>.</p>
<form id="form">
<textarea id="problem" placeholder="Natalia sold clips to 48 of her friends in April, and then
she sold half as many clips in May. How many clips did Natalia sell altogether?"></textarea>
<br><button id="solve" type="submit">Solve</button> <span id="busy"></span>
</form>
<div id="error"></div>
<div id="result"></div>
<script>
const form = document.getElementById("form");
form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const text = document.getElementById("problem").value;
  const error = document.getElementById("error");
  const result = document.getElementById("result");
  error.textContent = ""; result.innerHTML = "";
  document.getElementById("busy").textContent = "solving...";
  try {
    const reply = await fetch("/v1/solve", {method: "POST",
      headers: {"content-type": "application/json"},
      body: JSON.stringify({problem: text, html: true})});
    const body = await reply.json();
    if (!reply.ok) { error.textContent = body.error ? body.error.message : reply.statusText; }
    else { result.innerHTML = body.results[0].html; }
  } catch (failure) { error.textContent = String(failure); }
  document.getElementById("busy").textContent = "";
});
</script>
</body></html>
"""
