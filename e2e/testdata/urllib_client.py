"""A proxied HTTPS call with nothing but Python's standard library.

Usage: urllib_client.py --proxy http://x:KEY@127.0.0.1:PORT --cafile CA.pem
                        [--header "Name: value"]... URL

urllib.request.ProxyHandler sends the proxy URL's credentials as
Proxy-Authorization on the CONNECT; the ssl context trusts only the CA file.
Prints one JSON object: {"status": int, "headers": {lower-name: value}, "body": str}.
An HTTP error status is an answer, not a failure.
"""
import argparse
import json
import ssl
import sys
import urllib.error
import urllib.request


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--proxy", required=True)
    p.add_argument("--cafile", required=True)
    p.add_argument("--header", action="append", default=[])
    p.add_argument("url")
    a = p.parse_args()
    ctx = ssl.create_default_context(cafile=a.cafile)
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": a.proxy, "http": a.proxy}),
        urllib.request.HTTPSHandler(context=ctx),
    )
    req = urllib.request.Request(a.url)
    for h in a.header:
        name, _, value = h.partition(":")
        req.add_header(name.strip(), value.strip())
    try:
        resp = opener.open(req, timeout=20)
    except urllib.error.HTTPError as e:
        resp = e
    body = resp.read().decode("utf-8", "replace")
    headers = {k.lower(): v for k, v in resp.headers.items()}
    json.dump({"status": resp.status if hasattr(resp, "status") else resp.code, "headers": headers, "body": body}, sys.stdout)


if __name__ == "__main__":
    main()
