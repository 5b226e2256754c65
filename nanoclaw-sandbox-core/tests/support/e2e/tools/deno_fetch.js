// An HTTPS GET with Deno's fetch, as an agent would do it: Deno reads
// HTTPS_PROXY/NO_PROXY itself, and trusts its built-in roots plus DENO_CERT
// (rustls, verification on).
//
//   deno run --allow-net deno_fetch.js https://upstream.test/hello
//
// Deno 2.9 also looks the target's name up itself before it uses the proxy:
// in the agent container nothing answers, so each fetch first waits out the
// resolver (~10 s), hence the 40 s budget (the case's own limit is 60 s).
//
// Prints the body and exits 0; on any error prints `deno-error: ` and the
// error's causes, innermost first (`NAME: message <- ... <- TypeError: fetch
// failed`, the URL left out), on stderr and exits 1. A certificate Deno does
// not trust reads `invalid peer certificate: UnknownIssuer`.
const url = Deno.args[0];
try {
  const res = await fetch(url, { signal: AbortSignal.timeout(40000) });
  const body = await res.text();
  if (res.status !== 200) {
    console.error(`deno-error: HTTP_${res.status}: ${body}`);
    Deno.exit(1);
  }
  await Deno.stdout.write(new TextEncoder().encode(body));
} catch (err) {
  // `TypeError: fetch failed`; its causes say why, the innermost best.
  const chain = [];
  for (let e = err; e; e = e.cause) {
    chain.unshift(`${e.name}: ${String(e.message).replace(` for url (${url})`, '')}`);
  }
  console.error(`deno-error: ${chain.join(' <- ')}`);
  Deno.exit(1);
}
