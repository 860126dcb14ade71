"""The Maven repository stand-in: published wars answer 200, the others 404; the private one wants auth."""

import requests

WAR = "/org/finra/herd/herd-war/{0}/herd-war-{0}.war"


def test_published_and_unpublished_wars(make_stack, endpoints):
    make_stack(faults={"unpublished_versions": ["9.9.9"]})
    base = endpoints["maven_repository_url"]
    assert requests.head(base + WAR.format("0.176.0"), timeout=5).status_code == 200
    assert requests.get(base + WAR.format("1.0.0-RC1"), timeout=5).status_code == 200
    assert requests.head(base + WAR.format("9.9.9"), timeout=5).status_code == 404
    assert requests.head(base + WAR.format("FilledLater"), timeout=5).status_code == 404
    assert requests.head(base + "/org/finra/herd/herd-war/0.176.0/herd-war-0.177.0.war", timeout=5).status_code == 404


def test_the_private_mirror_wants_basic_auth(endpoints):
    url = endpoints["maven_private_repository_url"] + WAR.format("0.176.0")
    assert requests.head(url, timeout=5).status_code == 401
    assert requests.head(url, auth=(endpoints["maven_username"], "wrong"), timeout=5).status_code == 401
    assert requests.head(url, auth=(endpoints["maven_username"], endpoints["maven_password"]), timeout=5).status_code == 200
