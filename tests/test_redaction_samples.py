"""The published sample table: for every default rule, texts it must redact and texts it must leave alone.

True positives name the secret that must not survive; false positives must pass through the
whole default Redactor unchanged (so a sample is a false positive for every rule, not only for
the one it is listed under: it is listed where it is a near miss). Secrets are assembled from
pieces so that secret scanners do not flag this file.
"""

from __future__ import annotations

import pytest

import wflogging

_JWT = "ey" + "JhbGciOiJIUzI1NiJ9." + "ey" + "JzdWIiOiIxMjM0NTY3ODkwIn0.c2lnbmF0dXJl"

#: rule -> (true positives as (text, secret), false positives)
SAMPLES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    "private_key": (
        [
            (
                "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\n-----END OPENSSH PRIVATE KEY-----",
                "b3BlbnNzaC1rZXk",
            )
        ],
        ["-----BEGIN PUBLIC KEY-----\nMFkwEwYH\n-----END PUBLIC KEY-----", "keep the private key offline"],
    ),
    "aws_access_key": (
        [("AWS_ACCESS_KEY_ID=AK" + "IAIOSFODNN7EXAMPLE", "AK" + "IAIOSFODNN7EXAMPLE")],
        ["AKIA is a prefix; so is ASIA", "the AKIAIOSFODNN7 example is too short"],
    ),
    "aws_secret_key": (
        [
            (
                "AWS_SECRET_ACCESS_KEY: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            )
        ],
        ["set aws_secret_access_key in ~/.aws/credentials"],
    ),
    "anthropic_api_key": (
        [("ANTHROPIC_API_KEY=sk-" + "ant-api03-" + "Zx9Qw8Er7Ty6" * 4, "Zx9Qw8Er7Ty6" * 4)],
        ["the sk-ant- prefix marks Anthropic keys"],
    ),
    "openai_api_key": (
        [("client = OpenAI(api_key='sk-" + "proj-" + "a1B2c3D4e5" * 4 + "')", "a1B2c3D4e5" * 4)],
        ["pip install sk-learn-compatible-estimator and scikit-learn"],
    ),
    "stripe_api_key": (
        [("stripe.api_key = 'rk_" + "test_" + "4eC39HqLyjWDarjtT1zdp7dc'", "4eC39HqLyjWDarjtT1zdp7dc")],
        ["run the sk_live_ check in CI"],
    ),
    "github_token": (
        [("GITHUB_TOKEN=gh" + "s_" + "A1b2C3d4E5" * 4, "A1b2C3d4E5" * 4)],
        ["the ghp_ prefix marks personal tokens", "git push git@github.com:org/repo.git"],
    ),
    "slack_token": (
        [("token xo" + "xp-" + "2468013579-1357924680-AbCdEfGhIj", "2468013579-1357924680-AbCdEfGhIj")],
        ["Slack tokens start with xoxb- or xoxp-"],
    ),
    "slack_webhook": (
        [
            (
                "https://hooks.slack.com/services/T0000AAAA/B0000BBBB/XXXXXXXXXXXXXXXXXXXXXXXX",
                "XXXXXXXXXXXXXXXXXXXXXXXX",
            )
        ],
        ["see https://hooks.slack.com/ for incoming webhooks"],
    ),
    "google_api_key": (
        [("key=AI" + "zaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY", "SyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY")],
        ["AIza keys are 39 characters long"],
    ),
    "jwt": (
        [(f"id_token={_JWT}", _JWT.split(".")[1])],
        ["eyJ is base64 for a JSON object's start"],
    ),
    "bearer_token": (
        [('-H "Authorization: Bearer 0a1b2c3d4e5f6a7b8c9d"', "0a1b2c3d4e5f6a7b8c9d")],
        ["the bearer 2024edition bonds", "bearer instruments are paper"],
    ),
    "basic_auth": (
        [("Authorization: Basic dXNlcjpzM2NyM3RwYXNz", "dXNlcjpzM2NyM3RwYXNz")],
        ["HTTP Basic authorization is weak"],
    ),
    "authorization_token": (
        [
            ("Authorization: Token 9944b09199c62bcf9418ad846dd0e4bb", "9944b09199c62bcf9418ad846dd0e4bb"),
            ('headers={"Authorization": "token ghx7Yq2Lm9Pz4Wd8"}', "ghx7Yq2Lm9Pz4Wd8"),
        ],
        ["Authorization: Token authentication is described in the docs"],
    ),
    "cookie": (
        [
            ("Cookie: sessionid=38afes7a8x2k; csrftoken=Zq81", "38afes7a8x2k"),
            ("Set-Cookie: session=eyZ0aW1lIjoxNzA; Path=/; HttpOnly", "eyZ0aW1lIjoxNzA"),
        ],
        ["Cookie: a small sweet biscuit", "the cookie jar is empty"],
    ),
    "url_credentials": (
        [("redis://default:s3cr3tPass@cache:6379/0", "s3cr3tPass")],
        ["see https://example.com/path?query=1#frag and ftp://mirror.example.org/pub"],
    ),
    "secret_assignment": (
        [
            ("Passwd=hunter22x", "hunter22x"),
            ("PassWord: Tr0ub4dor&3", "Tr0ub4dor&3"),
            ("PGPASSWORD=s3cretpw psql -h db", "s3cretpw"),
            ("DB_PASSWORD=abcdef1", "abcdef1"),
            ('{"client_secret": "abcdefghij"}', "abcdefghij"),
            ("API_KEY = 'zzzyyyxxx1'", "zzzyyyxxx1"),
        ],
        [
            "The secret: patience",
            "The secret: patience.",
            "Use the password field; the key: value store; a token: string",
            "password: correct horse",
        ],
    ),
    "connection_string_password": (
        [
            ("Server=db;Uid=sa;PWD=Str0ng!pass;", "Str0ng!pass"),
            ("Driver={ODBC};Server=x; Pwd = p4ss;Trusted=no", "p4ss"),
        ],
        ["PWD=/home/alice", "cd $PWD; echo pwd=ok"],
    ),
    "email": (
        [
            ("Contact jane.doe+billing@example.co.uk for access", "jane.doe+billing@example.co.uk"),
            ("mail jane@example.com.", "jane@example.com"),
            ("Contact jane@example.com: she knows", "jane@example.com"),
        ],
        [
            "git@github.com:org/repo.git",
            "git clone deploy@build.example.com:/srv/app",
            "scp report.txt user@host:path/",
            "npm i @types/node lodash@4.17.21",
        ],
    ),
}

_TRUE = [(rule, text, secret) for rule, (positives, _) in SAMPLES.items() for text, secret in positives]
_FALSE = [(rule, text) for rule, (_, negatives) in SAMPLES.items() for text in negatives]


def test_every_default_rule_has_both_kinds_of_sample() -> None:
    assert {rule.name for rule in wflogging.DEFAULT_RULES} == set(SAMPLES)
    assert all(positives and negatives for positives, negatives in SAMPLES.values())


@pytest.mark.parametrize(
    ("rule", "text", "secret"), _TRUE, ids=[f"{rule}-{n}" for n, (rule, _, _) in enumerate(_TRUE)]
)
def test_true_positive_is_redacted_by_its_rule(rule: str, text: str, secret: str) -> None:
    result = wflogging.Redactor().redact_text(text)
    assert secret not in result.value
    assert rule in result.counts, f"redacted by {result.counts}, not by {rule}"


@pytest.mark.parametrize(("rule", "text"), _FALSE, ids=[f"{rule}-{n}" for n, (rule, _) in enumerate(_FALSE)])
def test_false_positive_is_left_alone_by_every_rule(rule: str, text: str) -> None:
    result = wflogging.Redactor().redact_text(text)
    assert result.value == text
    assert result.counts == {}
