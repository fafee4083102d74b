"""Defences at the edges: input limits, cross-origin policy, outbound fetches, secrets at rest.

Model-free and FastAPI-free where it can be (docs/security.md gives the threat model):

- ``limits``: strict JSON (no NaN/Infinity, no lone surrogates, bounded depth) and the
  limits on ``job_data`` and every text and number the API takes;
- ``origins``: which browser origins may call the REST API and open push channels;
- ``fetch``: the one outbound HTTP client (video downloads) with SSRF defences;
- ``secrets``: key hashes, tickets, candidate tokens, the embedding cipher, secret files;
- ``logs``: the filter that keeps keys, tokens and names out of every log line.
"""
