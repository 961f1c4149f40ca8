// The Jinja engine on its own: each case's expected output was produced by
// Python's jinja2 configured like Hugging Face (tests/jinja/render_reference.py).
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "server/jinja/template.h"

namespace strata::jinja {
namespace {

std::string render(const std::string& source, const std::string& variables_json = "{}") {
  Value vars = Value::from_json(nlohmann::ordered_json::parse(variables_json));
  return Template(source).render(vars.object());
}

struct Case {
  const char* source;
  const char* variables;
  const char* expected;
};

const Case kCases[] = {
    {"{% for x in xs %}{{ loop.index }}/{{ loop.index0 }}/{{ loop.revindex }}/{{ loop.first }}/{{ loop.last }}/{{ loop.length }} {% else %}empty{% endfor %}",
     R"json({"xs": ["a", "b", "c"]})json",
     "1/0/3/True/False/3 2/1/2/False/False/3 3/2/1/False/True/3 "},
    {"{% for x in xs %}{{ x }}{% else %}empty{% endfor %}",
     R"json({"xs": []})json",
     "empty"},
    {"{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}{{ d | dictsort }}",
     R"json({"d": {"b": 1, "a": 2}})json",
     "b=1;a=2;[('a', 2), ('b', 1)]"},
    {"{% set ns = namespace(n=0) %}{% for i in range(5) %}{% if i is odd %}{% set ns.n = ns.n + i %}{% endif %}{% endfor %}{{ ns.n }}",
     R"json({})json",
     "4"},
    {"{% macro greet(name, punct='!') %}Hi {{ name }}{{ punct }}{% endmacro %}{{ greet('Bo') }} {{ greet('Al', punct='?') }}",
     R"json({})json",
     "Hi Bo! Hi Al?"},
    {"a\n  {% if true %}\n    x\n  {% endif %}\nb\n",
     R"json({})json",
     "a\n    x\nb"},
    {"a  {%- if true -%}  x  {%- endif -%}  b {{- ' c ' -}} d",
     R"json({})json",
     "axb c d"},
    {"{% raw %}{{ not rendered }}{% endraw %}",
     R"json({})json",
     "{{ not rendered }}"},
    {"{{ 'Hello World'[::-1] }}|{{ [1,2,3,4][1:3] }}|{{ 'abc'[-1] }}|{{ xs[-2:] }}",
     R"json({"xs": [1, 2, 3]})json",
     "dlroW olleH|[2, 3]|c|[2, 3]"},
    {"{{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ -7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }} {{ 4 / 2 }} {{ 1 ~ 2 }} {{ 0.1 + 0.2 }} {{ 1e20 }}",
     R"json({})json",
     "3 -4 1 2 1024 3.5 2.0 12 0.30000000000000004 1e+20"},
    {"{{ x is defined }} {{ y is none }} {{ y.z is defined }} {{ 'a' in 'cat' }} {{ 3 not in [1,2] }} {{ x | default('dflt') }}",
     R"json({"y": null})json",
     "False True False True True dflt"},
    {"{{ '  pad  ' | trim }}|{{ 'a,b,,c'.split(',') }}|{{ ' a  b '.split() }}|{{ 'xxhixx'.strip('x') }}|{{ 'Hello'.startswith(('x','He')) }}|{{ 'ab'.upper() }}|{{ 'hello world'.title() }}",
     R"json({})json",
     "pad|['a', 'b', '', 'c']|['a', 'b']|hi|True|AB|Hello World"},
    {"{{ items | map(attribute='n') | join(',') }}|{{ items | selectattr('ok') | map(attribute='n') | list }}|{{ items | rejectattr('ok') | list | length }}|{{ [3,1,2] | sort | first }}|{{ ['b','A','a'] | unique | list }}",
     R"json({"items": [{"n": 1, "ok": true}, {"n": 2, "ok": false}, {"n": 3, "ok": true}]})json",
     "1,2,3|[1, 3]|1|1|['b', 'A']"},
    {"{{ d | tojson }}|{{ d | tojson(indent=2) }}|{{ 'é' | tojson }}|{{ [1, 'x', none, true, 1.5] }}|{{ d }}",
     R"json({"d": {"k": [1, {"z": null}], "s": "q\"\n"}})json",
     "{\"k\": [1, {\"z\": null}], \"s\": \"q\\\"\\n\"}|{\n  \"k\": [\n    1,\n    {\n      \"z\": null\n    }\n  ],\n  \"s\": \"q\\\"\\n\"\n}|\"é\"|[1, 'x', None, True, 1.5]|{'k': [1, {'z': None}], 's': 'q\"\\n'}"},
    {"{{ 'text\nmore\n\nlast' | indent(2) }}|{{ 'x' | indent(2, true) }}|{{ 3.14159 | round(2) }}|{{ -3 | abs }}|{{ '42' | int + 1 }}|{{ 'x' | int }}|{{ 2 | float }}",
     R"json({})json",
     "text\n  more\n\n  last|  x|3.14|3|43|0|2.0"},
    {"{% set x %}captured {{ 1 + 1 }}{% endset %}[{{ x }}]{% for i in range(10) %}{% if i == 3 %}{% break %}{% endif %}{% if i is even %}{% continue %}{% endif %}{{ i }}{% endfor %}",
     R"json({})json",
     "[captured 2]1"},
    {"{{ 'a' if false }}|{{ 'yes' if 1 else 'no' }}|{{ none }}|{{ undefined_thing }}|{{ [] or 'empty' }}|{{ 'x' and 'y' }}",
     R"json({})json",
     "|yes|None||empty|y"},
    {"{{ '{} and {}'.format('a', 1) }}|{{ 'a\\tb\\u00e9\\x41' }}|{{ \"it's\" }}|{{ {'a': 1}.get('b', 'none') }}|{{ [1,2,3] | batch(2) | list }}",
     R"json({})json",
     "a and 1|a\tbéA|it's|none|[[1, 2], [3]]"},
    {"{% filter upper %}shout {{ 'this' }}{% endfilter %}|{{ 'a' ~ none ~ 1 }}|{{ 1 < 2 < 3 }}|{{ [1,2] == [1,2] }}|{{ 1 == 1.0 }}|{{ true == 1 }}",
     R"json({})json",
     "SHOUT THIS|aNone1|True|True|True|True"},
};

TEST(Jinja, MatchesJinja2OnFeatureCases) {
  for (const Case& c : kCases) {
    SCOPED_TRACE(c.source);
    try {
      EXPECT_EQ(render(c.source, c.variables), c.expected);
    } catch (const Error& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

TEST(Jinja, SyntaxErrorsNameTheLine) {
  try {
    Template("line one\n{% if x %}\n{{ x + }}\n{% endif %}");
    FAIL() << "expected a syntax error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("line 3"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Template("{% for x in xs %}no end"), Error);
  EXPECT_THROW(Template("{{ 'open string }}"), Error);
  EXPECT_THROW(Template("{# unterminated comment"), Error);
  EXPECT_THROW(Template("{% endif %}"), Error);
}

TEST(Jinja, UndefinedSemantics) {
  EXPECT_EQ(render("[{{ missing }}]"), "[]");
  EXPECT_EQ(render("{{ missing | length }}"), "0");
  EXPECT_EQ(render("{{ d.nope is defined }}", R"({"d": {}})"), "False");
  EXPECT_THROW(render("{{ missing.attr }}"), Error);  // attribute of undefined raises, as in jinja2
  EXPECT_THROW(render("{{ missing() }}"), Error);
  EXPECT_THROW(render("{{ missing + 1 }}"), Error);
  EXPECT_EQ(render("{{ none_value.attr is defined }}", R"({"none_value": null})"), "False");
}

// Lists allow append and pop, in place and shared by reference (jinja2's
// SandboxedEnvironment; llama.cpp's Kimi K2 templates queue ids with them);
// the other mutating methods stay refused, as in transformers' sandbox.
TEST(Jinja, ListAppendAndPopOnlyAmongMutatingMethods) {
  EXPECT_EQ(render("{% set ns = namespace(q=[]) %}{% set _ = ns.q.append('a') %}{% set _ = ns.q.append(2) %}"
                   "{{ ns.q }}|{{ ns.q.pop(0) }}|{{ ns.q.pop() }}|{{ ns.q }}"),
            "['a', 2]|a|2|[]");
  EXPECT_EQ(render("{% set xs = [1, 2, 3] %}{{ xs.pop(-2) }}{{ xs }}"), "2[1, 3]");
  EXPECT_THROW(render("{% set xs = [] %}{{ xs.pop() }}"), Error);
  EXPECT_THROW(render("{% set xs = [1] %}{{ xs.pop(3) }}"), Error);
  EXPECT_THROW(render("{% set xs = [] %}{{ xs.append() }}"), Error);
  for (const char* method : {"extend([1])", "insert(0, 1)", "remove(1)", "sort()", "clear()"}) {
    try {
      render(std::string("{% set xs = [1] %}{{ xs.") + method + " }}");
      FAIL() << "expected an error for " << method;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("unsafe"), std::string::npos) << e.what();
    }
  }
  EXPECT_THROW(render("{% set d = {} %}{{ d.update({}) }}"), Error);
}

TEST(Jinja, RaiseExceptionMessage) {
  try {
    render("{{ raise_exception('bad role: ' ~ role) }}", R"({"role": "x"})");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(), "bad role: x");
  }
}

TEST(Jinja, RunawayRecursionIsAnErrorNotACrash) {
  EXPECT_THROW(render("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}"), Error);
}

}  // namespace
}  // namespace strata::jinja
