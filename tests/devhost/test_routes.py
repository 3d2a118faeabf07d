import pytest

from devhost.routes import RouteTemplate, RouteTemplateError


@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("negotiate", "/api/negotiate", {}),
        ("negotiate", "/api/NEGOTIATE/", {}),
        ("negotiate", "/api/negotiatex", None),
        ("negotiate/{hub:alpha?}", "/api/negotiate", {}),
        ("negotiate/{hub:alpha?}", "/api/negotiate/chat", {"hub": "chat"}),
        ("negotiate/{hub:alpha?}", "/api/negotiate/chat_1", None),
        ("products/{category:alpha}/{id:int?}", "/api/products/books/12", {"category": "books", "id": "12"}),
        ("products/{category:alpha}/{id:int?}", "/api/products/books/x", None),
        ("items/{id:int:min(10)}", "/api/items/9", None),
        ("items/{id:int:range(1,5)}", "/api/items/5", {"id": "5"}),
        ("items/{name:minlength(2):maxlength(3)}", "/api/items/abcd", None),
        ("items/{name:length(2)}", "/api/items/ab", {"name": "ab"}),
        (
            "items/{id:guid}",
            "/api/items/6f9619ff-8b86-d011-b42d-00cf4fc964ff",
            {"id": "6f9619ff-8b86-d011-b42d-00cf4fc964ff"},
        ),
        ("items/{flag:bool}", "/api/items/TRUE", {"flag": "TRUE"}),
        ("items/{v:double}", "/api/items/1.5", {"v": "1.5"}),
        ("hubs/{hub:regex(^[a-z][a-z0-9_]*$)}", "/api/hubs/chat_1", {"hub": "chat_1"}),
        ("hubs/{hub:regex(^[a-z]{{2}}$)}", "/api/hubs/abc", None),
        ("files/{*path}", "/api/files/a/b/c.txt", {"path": "a/b/c.txt"}),
        ("files/{*path}", "/api/files", {}),
        ("say/{word=hello}", "/api/say", {"word": "hello"}),
        ("say/{word=hello}", "/api/say/bye", {"word": "bye"}),
        ("file.{ext}", "/api/file.txt", {"ext": "txt"}),
        ("groups/{group}", "/api/groups/a%20b", {"group": "a b"}),
        ("groups/{group}", "/api/groups/a%2Fb", {"group": "a%2Fb"}),
    ],
)
def test_matching(template: str, path: str, values: dict | None) -> None:
    assert RouteTemplate(template, "api").match(path) == values


def test_empty_prefix() -> None:
    assert RouteTemplate("negotiate", "").match("/negotiate") == {}


@pytest.mark.parametrize("template", ["a//b", "a/{x", "a/{x:unknown}", "a/{9x}", "a/x{y?}", "a/{x:min(a)}"])
def test_invalid_templates(template: str) -> None:
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template, "api")
