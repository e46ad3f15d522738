"""EC2 Image Builder's recipe calls amikeeper's scan makes (moto 5.2.5 has no such backend).

Requests signed for `imagebuilder`: CreateImageRecipe (PUT), ListImageRecipes and
ListContainerRecipes (POST, owner Self: the recipes created here; no container recipe can be
created, so that list is empty), answered as restJson with the fields amikeeper reads. Recipes
are kept per region (`POST /moto-api/reset` does not forget them). While `imagebuilder` is
unavailable (unavailable.py) every call is `AccessDeniedException`; any other call is
`UnknownOperationException`.
"""

from __future__ import annotations

from typing import Iterable

from moto.core.utils import utcnow

from . import wsgi
from .unavailable import UNAVAILABLE
from .wsgi import Environ, StartResponse

# The image recipes created, by region, then by ARN (the fields of an ImageRecipeSummary).
RECIPES: dict[str, dict[str, dict[str, str]]] = {}
# The account moto answers for.
ACCOUNT = "123456789012"


def apply() -> None:
    """Answers the requests signed for `imagebuilder` in front of moto."""
    wsgi.intercept(_handle)


def recipes_in(region: str) -> list[dict[str, str]]:
    """The image recipes created in `region`."""
    return list(RECIPES.get(region, {}).values())


def _handle(environ: Environ, start_response: StartResponse) -> Iterable[bytes] | None:
    if wsgi.signing_service(environ) != "imagebuilder":
        return None
    if "imagebuilder" in UNAVAILABLE:
        body = {"message": "User is not authorized to perform this action"}
        return wsgi.json_response(environ, start_response, 403, body, "AccessDeniedException")
    method = environ.get("REQUEST_METHOD", "")
    path = environ.get("PATH_INFO", "")
    region = wsgi.signing_region(environ) or "us-east-1"
    body = wsgi.json_body(environ)
    recipes = RECIPES.setdefault(region, {})
    if method == "PUT" and path == "/CreateImageRecipe":
        name, version = body.get("name", ""), body.get("semanticVersion", "1.0.0")
        arn = f"arn:aws:imagebuilder:{region}:{ACCOUNT}:image-recipe/{name.lower()}/{version}"
        recipes[arn] = {
            "arn": arn,
            "name": name,
            "parentImage": body.get("parentImage", ""),
            "owner": ACCOUNT,
            "platform": "Linux",
            "dateCreated": utcnow().isoformat(),
        }
        answer = {"requestId": "moto", "clientToken": body.get("clientToken", ""), "imageRecipeArn": arn}
        return wsgi.json_response(environ, start_response, 200, answer)
    if method == "POST" and path == "/ListImageRecipes":
        listed = {"requestId": "moto", "imageRecipeSummaryList": list(recipes.values())}
        return wsgi.json_response(environ, start_response, 200, listed)
    if method == "POST" and path == "/ListContainerRecipes":
        return wsgi.json_response(environ, start_response, 200, {"requestId": "moto", "containerRecipeSummaryList": []})
    return wsgi.unknown_operation(environ, start_response)
