// Reasoning (<think>) and tool-call (Hermes/Qwen3, Kimi-K2, MiniMax-M2)
// parsers, whole text and streamed with every possible chunk boundary, one
// byte at a time and in random chunks.
#include <gtest/gtest.h>

#include <random>

#include <nlohmann/json.hpp>

#include "server/reasoning_parser.h"
#include "server/tool_call_parser.h"

namespace strata {
namespace {

// Streams `text` in chunks cut at the given positions and concatenates.
ReasoningDelta stream_reasoning(bool starts_in_reasoning, std::string_view text, const std::vector<size_t>& cuts,
                                const std::vector<std::string_view>& implicit_ends = {}) {
  ReasoningParser parser(starts_in_reasoning, implicit_ends);
  ReasoningDelta total;
  size_t from = 0;
  auto add = [&](const ReasoningDelta& d) {
    total.reasoning += d.reasoning;
    total.content += d.content;
  };
  for (size_t cut : cuts) {
    add(parser.feed(text.substr(from, cut - from)));
    from = cut;
  }
  add(parser.feed(text.substr(from)));
  add(parser.finish());
  return total;
}

void expect_streaming_matches(bool starts_in_reasoning, std::string_view text,
                              const std::vector<std::string_view>& implicit_ends = {}) {
  ReasoningDelta whole = ReasoningParser(starts_in_reasoning, implicit_ends).parse(text);
  for (size_t a = 0; a <= text.size(); ++a) {
    for (size_t b = a; b <= text.size(); ++b) {
      ReasoningDelta streamed = stream_reasoning(starts_in_reasoning, text, {a, b}, implicit_ends);
      ASSERT_EQ(streamed.reasoning, whole.reasoning) << "cuts " << a << "," << b << " in " << text;
      ASSERT_EQ(streamed.content, whole.content) << "cuts " << a << "," << b << " in " << text;
    }
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
  ReasoningDelta by_char = stream_reasoning(starts_in_reasoning, text, every, implicit_ends);
  EXPECT_EQ(by_char.reasoning, whole.reasoning);
  EXPECT_EQ(by_char.content, whole.content);
}

TEST(ReasoningParser, SplitsThinkBlock) {
  ReasoningDelta d = ReasoningParser().parse("<think>\nLet me think.\n</think>\n\nParis.");
  EXPECT_EQ(d.reasoning, "\nLet me think.\n");
  EXPECT_EQ(d.content, "\n\nParis.");
}

TEST(ReasoningParser, NoTagsIsAllContent) {
  ReasoningDelta d = ReasoningParser().parse("Just an answer < with <b>markup</b>.");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Just an answer < with <b>markup</b>.");
}

TEST(ReasoningParser, ThinkTagLaterInTheTextIsContent) {
  ReasoningDelta d = ReasoningParser().parse("Use <think> tags like <think>x</think>.");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "Use <think> tags like <think>x</think>.");
}

TEST(ReasoningParser, PromptOpenedReasoning) {
  EXPECT_TRUE(ReasoningParser::prompt_opens_reasoning("<|im_start|>assistant\n<think>\n"));
  EXPECT_FALSE(ReasoningParser::prompt_opens_reasoning("<|im_start|>assistant\n<think>\n\n</think>\n\n"));
  EXPECT_FALSE(ReasoningParser::prompt_opens_reasoning("<|im_start|>assistant\n"));
  ReasoningDelta d = ReasoningParser(true).parse("step 1, step 2</think>\n\nDone.");
  EXPECT_EQ(d.reasoning, "step 1, step 2");
  EXPECT_EQ(d.content, "\n\nDone.");
}

// Kimi K2: the tool-call section also ends the reasoning (vLLM's kimi_k2
// reasoning parser); the marker itself starts the content.
TEST(ReasoningParser, KimiToolSectionEndsReasoning) {
  const std::vector<std::string_view> ends = ToolCallParser::section_openers(ToolCallFormat::KimiK2);
  ASSERT_EQ(ends.size(), 2u);
  const std::string text = "<think>I need the weather<|tool_calls_section_begin|><|tool_call_begin|>functions.w:0";
  ReasoningDelta d = ReasoningParser(false, ends).parse(text);
  EXPECT_EQ(d.reasoning, "I need the weather");
  EXPECT_EQ(d.content, "<|tool_calls_section_begin|><|tool_call_begin|>functions.w:0");
  EXPECT_EQ(ReasoningParser(false, ends).parse("<think>a<|tool_call_section_begin|>x").content, "<|tool_call_section_begin|>x");
  // </think> first: the usual split; without the option the marker is reasoning.
  EXPECT_EQ(ReasoningParser(false, ends).parse("<think>a</think>b<|tool_calls_section_begin|>").content,
            "b<|tool_calls_section_begin|>");
  EXPECT_EQ(ReasoningParser().parse(text).content, "");
  expect_streaming_matches(false, text, ends);
  expect_streaming_matches(false, "<think>x<|tool_calls_sec", ends);  // cut off inside the marker: reasoning
}

TEST(ReasoningParser, TruncatedReasoningStaysReasoning) {
  ReasoningDelta d = ReasoningParser().parse("<think>still thinking </thi");
  EXPECT_EQ(d.reasoning, "still thinking </thi");
  EXPECT_EQ(d.content, "");
  ReasoningDelta opened = ReasoningParser(true).parse("no end tag");
  EXPECT_EQ(opened.reasoning, "no end tag");
}

TEST(ReasoningParser, StreamingAtEveryBoundaryMatchesWholeText) {
  expect_streaming_matches(false, "<think>ab</think>cd");
  expect_streaming_matches(false, "  <think>\nx < y </thin </think>\n\nanswer</think>");
  expect_streaming_matches(false, "<thinking>not a tag</think>");
  expect_streaming_matches(false, "<thi");
  expect_streaming_matches(true, "reason</think>content");
  expect_streaming_matches(true, "reason </ </think");
}

TEST(ReasoningParser, StreamingHoldsBackOnlyPossibleTags) {
  ReasoningParser p;
  EXPECT_EQ(p.feed("<thi").reasoning, "");
  ReasoningDelta d = p.feed("nk>abc</");
  EXPECT_EQ(d.reasoning, "abc");
  d = p.feed("think>ok");
  EXPECT_EQ(d.reasoning, "");
  EXPECT_EQ(d.content, "ok");
}

// ---- tool calls ----

std::function<std::string()> counting_ids() {
  auto n = std::make_shared<int>(0);
  return [n] { return "call_" + std::to_string((*n)++); };
}

using nlohmann::ordered_json;

ParsedToolCalls stream_tools(ToolCallFormat format, std::string_view text, const std::vector<size_t>& cuts,
                             const ordered_json& tools = nullptr) {
  ToolCallParser parser(format, tools, counting_ids());
  ParsedToolCalls total;
  bool name_before_arguments = true;
  auto add = [&](const ToolCallStreamDelta& d) {
    total.content += d.content;
    for (const ToolCallDelta& c : d.tool_calls) {
      if (size_t(c.index) >= total.tool_calls.size()) {
        total.tool_calls.resize(size_t(c.index) + 1);
        name_before_arguments &= !c.name.empty() && !c.id.empty() && c.arguments.empty();
      }
      ToolCall& call = total.tool_calls[size_t(c.index)];
      if (!c.id.empty()) call.id = c.id;
      if (!c.name.empty()) call.name = c.name;
      call.arguments += c.arguments;
    }
  };
  size_t from = 0;
  for (size_t cut : cuts) {
    add(parser.feed(text.substr(from, cut - from)));
    from = cut;
  }
  add(parser.feed(text.substr(from)));
  add(parser.finish());
  EXPECT_TRUE(name_before_arguments) << "the first delta of a call must carry id and name only";
  return total;
}

void expect_tool_streaming_matches(ToolCallFormat format, std::string_view text, const ordered_json& tools = nullptr) {
  ParsedToolCalls whole = ToolCallParser(format, tools, counting_ids()).parse(text);
  auto same = [&](const ParsedToolCalls& s, const std::string& where) {
    ASSERT_EQ(s.content, whole.content) << where;
    ASSERT_EQ(s.tool_calls.size(), whole.tool_calls.size()) << where;
    for (size_t i = 0; i < s.tool_calls.size(); ++i) {
      EXPECT_EQ(s.tool_calls[i].id, whole.tool_calls[i].id) << where;
      EXPECT_EQ(s.tool_calls[i].name, whole.tool_calls[i].name) << where;
      EXPECT_EQ(s.tool_calls[i].arguments, whole.tool_calls[i].arguments) << where;
    }
  };
  for (size_t a = 0; a <= text.size(); ++a) same(stream_tools(format, text, {a}, tools), "cut at " + std::to_string(a));
  std::vector<size_t> every;
  for (size_t i = 1; i < text.size(); ++i) every.push_back(i);
  same(stream_tools(format, text, every, tools), "one byte per chunk");
  // Token-like chunks of 1-12 bytes.
  std::mt19937 rng(7);
  for (int round = 0; round < 50; ++round) {
    std::vector<size_t> cuts;
    for (size_t at = 1 + rng() % 12; at < text.size(); at += 1 + rng() % 12) cuts.push_back(at);
    same(stream_tools(format, text, cuts, tools), "random chunks, round " + std::to_string(round));
  }
}

TEST(ToolCallParser, NoToolCall) {
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::Hermes).parse("Hello <b>there</b> <tool");
  EXPECT_EQ(r.content, "Hello <b>there</b> <tool");
  EXPECT_TRUE(r.tool_calls.empty());
}

TEST(ToolCallParser, HermesSingleCallWithTextBefore) {
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::Hermes, counting_ids())
                          .parse("Let me check.\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Zürich\", \"days\": 2}}\n</tool_call>");
  EXPECT_EQ(r.content, "Let me check.\n");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "call_0");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"location\": \"Zürich\", \"days\": 2}");
}

TEST(ToolCallParser, HermesSeveralCallsAndDefaultIds) {
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::Hermes)
                          .parse("<tool_call>\n{\"name\": \"a\", \"arguments\": {}}\n</tool_call>\n"
                                 "<tool_call>\n{\"name\": \"b\", \"arguments\": \"{\\\"q\\\": 1}\"}\n</tool_call>");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].name, "a");
  EXPECT_EQ(r.tool_calls[0].arguments, "{}");
  EXPECT_EQ(r.tool_calls[1].name, "b");
  EXPECT_EQ(r.tool_calls[1].arguments, "{\"q\": 1}");  // a string argument is passed through
  EXPECT_EQ(r.content, "\n");
  EXPECT_EQ(r.tool_calls[0].id.rfind("chatcmpl-tool-", 0), 0u);
  EXPECT_EQ(r.tool_calls[0].id.size(), std::string("chatcmpl-tool-").size() + 32);
  EXPECT_NE(r.tool_calls[0].id, r.tool_calls[1].id);
}

TEST(ToolCallParser, MalformedCallStaysContent) {
  std::string text = "x<tool_call>\n{\"name\": \"a\", \"arguments\": {oops}\n</tool_call>y<tool_call>{\"name\": \"b\"}</tool_call>";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::Hermes, counting_ids()).parse(text);
  EXPECT_EQ(r.content, "x<tool_call>\n{\"name\": \"a\", \"arguments\": {oops}\n</tool_call>y");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].name, "b");
  EXPECT_EQ(r.tool_calls[0].arguments, "{}");
}

TEST(ToolCallParser, UnterminatedCallStaysContent) {
  std::string text = "ok <tool_call>{\"name\": \"a\", \"argu";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::Hermes).parse(text);
  EXPECT_EQ(r.content, text);
  EXPECT_TRUE(r.tool_calls.empty());
}

TEST(ToolCallParser, KimiK2Markup) {
  std::string text =
      "I'll look that up.<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0"
      "<|tool_call_argument_begin|>{\"location\": \"Paris\"}<|tool_call_end|><|tool_call_begin|>functions.search:1"
      "<|tool_call_argument_begin|>{\"query\":\"news\"}<|tool_call_end|><|tool_calls_section_end|>";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::KimiK2).parse(text);
  EXPECT_EQ(r.content, "I'll look that up.");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].id, "functions.get_weather:0");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"location\": \"Paris\"}");
  EXPECT_EQ(r.tool_calls[1].id, "functions.search:1");
  EXPECT_EQ(r.tool_calls[1].name, "search");
  EXPECT_EQ(r.tool_calls[1].arguments, "{\"query\":\"news\"}");
}

TEST(ToolCallParser, KimiK2MalformedArgumentsStayContent) {
  std::string text = "<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{bad<|tool_call_end|><|tool_calls_section_end|>";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::KimiK2).parse(text);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, "<|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{bad<|tool_call_end|>");
}

// Kimi K2's ids are functions.NAME:IDX: "functions." is added when the model
// leaves it out, names keep their dots, and an id without a numeric index is
// not a call.
TEST(ToolCallParser, KimiK2Ids) {
  auto call = [](std::string_view id) {
    return "<|tool_calls_section_begin|><|tool_call_begin|>" + std::string(id) +
           "<|tool_call_argument_begin|>{}<|tool_call_end|><|tool_calls_section_end|>";
  };
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::KimiK2).parse(call("get_weather:3"));
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "functions.get_weather:3");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  r = ToolCallParser(ToolCallFormat::KimiK2).parse(call(" functions.db.query:12\n"));
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.tool_calls[0].id, "functions.db.query:12");
  EXPECT_EQ(r.tool_calls[0].name, "db.query");
  for (const char* bad : {"functions.f", "functions.f:", "functions.f:x1", ":0", "functions.a b:0"}) {
    r = ToolCallParser(ToolCallFormat::KimiK2).parse(call(bad));
    EXPECT_TRUE(r.tool_calls.empty()) << bad;
    EXPECT_EQ(r.content, "<|tool_call_begin|>" + std::string(bad) + "<|tool_call_argument_begin|>{}<|tool_call_end|>") << bad;
  }
}

// What the model gets wrong, read as vLLM and llama.cpp read it: the singular
// section spelling, calls outside a section, a call whose <|tool_call_end|> is
// missing before the next call or the section's end. An unterminated call at
// the end of the output, or one without <|tool_call_argument_begin|>, is text.
TEST(ToolCallParser, KimiK2LenientMarkup) {
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::KimiK2).parse(
      "a<|tool_call_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{\"x\": 1}"
      "<|tool_call_begin|>functions.g:1<|tool_call_argument_begin|>{}<|tool_call_section_end|>b");
  EXPECT_EQ(r.content, "ab");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].id, "functions.f:0");
  EXPECT_EQ(r.tool_calls[0].arguments, "{\"x\": 1}");
  EXPECT_EQ(r.tool_calls[1].id, "functions.g:1");
  EXPECT_EQ(r.tool_calls[1].arguments, "{}");

  r = ToolCallParser(ToolCallFormat::KimiK2).parse("<|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>[1]<|tool_call_end|>");
  ASSERT_EQ(r.tool_calls.size(), 1u);
  EXPECT_EQ(r.content, "");

  const std::string cut = "ok<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{\"x\": ";
  r = ToolCallParser(ToolCallFormat::KimiK2).parse(cut);
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, "ok<|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>{\"x\": ");
  r = ToolCallParser(ToolCallFormat::KimiK2).parse("<|tool_call_begin|>functions.f:0 {}<|tool_call_end|>");
  EXPECT_TRUE(r.tool_calls.empty());
  EXPECT_EQ(r.content, "<|tool_call_begin|>functions.f:0 {}<|tool_call_end|>");
  // Text inside a section that is not whitespace between calls is content.
  r = ToolCallParser(ToolCallFormat::KimiK2).parse("<|tool_calls_section_begin|> note <|tool_calls_section_end|>");
  EXPECT_EQ(r.content, " note ");

  expect_tool_streaming_matches(ToolCallFormat::KimiK2,
                                "a<|tool_call_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>"
                                "{\"x\": 1}<|tool_call_begin|>g:1<|tool_call_argument_begin|>{}<|tool_call_section_end|>b");
  expect_tool_streaming_matches(ToolCallFormat::KimiK2, cut);
  expect_tool_streaming_matches(ToolCallFormat::KimiK2, "<|tool_calls_section_begin|>\n<|tool_call_begin|>bad<|tool_call_end|>\n");
}

TEST(ToolCallParser, StreamingAtEveryBoundaryMatchesWholeText) {
  expect_tool_streaming_matches(ToolCallFormat::Hermes,
                                "Sure.<tool_call>\n{\"name\": \"f\", \"arguments\": {\"a\": [1, 2.5]}}\n</tool_call>\n"
                                "<tool_call>{\"name\": \"g\", \"arguments\": {}}</tool_call> done <tool_ca");
  expect_tool_streaming_matches(ToolCallFormat::Hermes, "a<tool_call>{bad}</tool_call>b");
  expect_tool_streaming_matches(ToolCallFormat::KimiK2,
                                "Hi<|tool_calls_section_begin|><|tool_call_begin|>functions.f:0<|tool_call_argument_begin|>"
                                "{\"x\": 1}<|tool_call_end|><|tool_calls_section_end|>");
}

TEST(ToolCallParser, ReasoningThenToolCallsPipeline) {
  std::string output = "<think>need weather</think>\n\n<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\": \"Oslo\"}}\n</tool_call>";
  ReasoningDelta split = ReasoningParser().parse(output);
  EXPECT_EQ(split.reasoning, "need weather");
  ParsedToolCalls calls = ToolCallParser(ToolCallFormat::Hermes, counting_ids()).parse(split.content);
  EXPECT_EQ(calls.content, "\n\n");
  ASSERT_EQ(calls.tool_calls.size(), 1u);
  EXPECT_EQ(calls.tool_calls[0].arguments, "{\"location\": \"Oslo\"}");
}

TEST(ToolCallParser, FormatNames) {
  EXPECT_EQ(ToolCallParser::format_named("hermes"), ToolCallFormat::Hermes);
  EXPECT_EQ(ToolCallParser::format_named("qwen3"), ToolCallFormat::Hermes);
  EXPECT_EQ(ToolCallParser::format_named("kimi_k2"), ToolCallFormat::KimiK2);
  EXPECT_EQ(ToolCallParser::format_named("minimax_m2"), ToolCallFormat::MiniMaxM2);
  EXPECT_FALSE(ToolCallParser::format_named("mistral").has_value());
}

// ---- MiniMax-M2 ----

// Tools as a request declares them; the parser types values by their schemas.
const ordered_json& minimax_tools() {
  static const ordered_json tools = ordered_json::parse(R"([
    {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {
      "location": {"type": "string"}, "days": {"type": "integer"}, "unit": {"type": "string", "enum": ["c", "f"]}}}}},
    {"type": "function", "function": {"name": "search", "parameters": {"type": "object", "properties": {
      "query": {"type": "string"}, "limit": {"type": "number"}}}}},
    {"type": "function", "function": {"name": "typed", "parameters": {"type": "object", "properties": {
      "i": {"type": "integer"}, "n": {"type": "number"}, "b": {"type": "boolean"}, "o": {"type": "object"},
      "a": {"type": "array"}, "s": {"type": "string"}, "is": {"type": ["string", "integer"]},
      "maybe": {"anyOf": [{"type": "number"}, {"type": "null"}]}, "choice": {"enum": [1, 2, 3]},
      "untyped": {"description": "no type given"}, "upper": {"type": "INTEGER"}}}}}
  ])");
  return tools;
}

// The arguments one <invoke name="typed"> with these parameters parses to.
std::string typed_arguments(std::string_view parameters, const ordered_json& tools = minimax_tools()) {
  std::string text = "<minimax:tool_call>\n<invoke name=\"typed\">\n" + std::string(parameters) + "</invoke>\n</minimax:tool_call>";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::MiniMaxM2, tools, counting_ids()).parse(text);
  EXPECT_EQ(r.tool_calls.size(), 1u) << parameters;
  EXPECT_EQ(r.content, "") << parameters;
  return r.tool_calls.empty() ? "" : r.tool_calls[0].arguments;
}

std::string param(std::string_view name, std::string_view value) {
  return "<parameter name=\"" + std::string(name) + "\">" + std::string(value) + "</parameter>\n";
}

TEST(MiniMaxM2ToolCalls, SeveralInvokesWithTextBefore) {
  std::string text =
      "Let me check both.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"location\">Zürich</parameter>\n"
      "<parameter name=\"days\">3</parameter>\n<parameter name=\"unit\">c</parameter>\n</invoke>\n"
      "<invoke name=search>\n<parameter name=query>cats \"and\" dogs\n</parameter>\n<parameter name='limit'>2.5</parameter>\n"
      "</invoke>\n</minimax:tool_call>";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::MiniMaxM2, minimax_tools(), counting_ids()).parse(text);
  EXPECT_EQ(r.content, "Let me check both.\n");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].id, "call_0");
  EXPECT_EQ(r.tool_calls[0].name, "get_weather");
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"location": "Zürich", "days": 3, "unit": "c"})");
  EXPECT_EQ(r.tool_calls[1].id, "call_1");
  EXPECT_EQ(r.tool_calls[1].name, "search");
  EXPECT_EQ(r.tool_calls[1].arguments, R"({"query": "cats \"and\" dogs", "limit": 2.5})");
}

TEST(MiniMaxM2ToolCalls, TextAfterAndBetweenBlocksIsContent) {
  std::string text =
      "A<minimax:tool_call>\n<invoke name=\"search\"><parameter name=\"query\">x</parameter></invoke>\n</minimax:tool_call>"
      "B<minimax:tool_call><invoke name=\"search\"></invoke></minimax:tool_call>\nC";
  ParsedToolCalls r = ToolCallParser(ToolCallFormat::MiniMaxM2, minimax_tools(), counting_ids()).parse(text);
  EXPECT_EQ(r.content, "AB\nC");
  ASSERT_EQ(r.tool_calls.size(), 2u);
  EXPECT_EQ(r.tool_calls[0].arguments, R"({"query": "x"})");
  EXPECT_EQ(r.tool_calls[1].arguments, "{}");
}

TEST(MiniMaxM2ToolCalls, ValuesFollowTheSchemaTypes) {
  // integer > number > boolean > object/array > string, each tried in turn.
  EXPECT_EQ(typed_arguments(param("i", "42") + param("i2", "x")), R"({"i": 42, "i2": "x"})");
  EXPECT_EQ(typed_arguments(param("i", " -7 ")), R"({"i": -7})");
  EXPECT_EQ(typed_arguments(param("i", "+7")), R"({"i": 7})");
  EXPECT_EQ(typed_arguments(param("i", "4.5")), R"({"i": 4.5})");  // not an integer: JSON
  EXPECT_EQ(typed_arguments(param("i", "many")), R"({"i": "many"})");
  EXPECT_EQ(typed_arguments(param("n", "2.0")), R"({"n": 2})");  // whole numbers become ints
  EXPECT_EQ(typed_arguments(param("n", "1e3")), R"({"n": 1000})");
  EXPECT_EQ(typed_arguments(param("n", "-0.25")), R"({"n": -0.25})");
  EXPECT_EQ(typed_arguments(param("n", "1e-7")), R"({"n": 1e-07})");
  EXPECT_EQ(typed_arguments(param("n", "inf")), R"({"n": "inf"})");
  EXPECT_EQ(typed_arguments(param("b", "True")), R"({"b": true})");
  EXPECT_EQ(typed_arguments(param("b", "no")), R"({"b": false})");
  EXPECT_EQ(typed_arguments(param("b", "1")), R"({"b": true})");
  EXPECT_EQ(typed_arguments(param("b", "maybe")), R"({"b": "maybe"})");
  EXPECT_EQ(typed_arguments(param("o", "\n{\"k\": [1, 2.5, null], \"s\": \"é\"}\n")), R"({"o": {"k": [1, 2.5, null], "s": "é"}})");
  EXPECT_EQ(typed_arguments(param("o", "{broken")), R"({"o": "{broken"})");
  EXPECT_EQ(typed_arguments(param("a", "[1, \"x\"]")), R"({"a": [1, "x"]})");
  EXPECT_EQ(typed_arguments(param("s", "123")), R"({"s": "123"})");
  EXPECT_EQ(typed_arguments(param("s", "  two\nlines  ")), R"({"s": "two\nlines"})");
  EXPECT_EQ(typed_arguments(param("s", "<b>tag</b> & \"quote\"")), R"({"s": "<b>tag</b> & \"quote\""})");
  EXPECT_EQ(typed_arguments(param("is", "12") + param("s2", "")), R"({"is": 12, "s2": ""})");
  EXPECT_EQ(typed_arguments(param("is", "twelve")), R"({"is": "twelve"})");
  EXPECT_EQ(typed_arguments(param("maybe", "3.5")), R"({"maybe": 3.5})");
  EXPECT_EQ(typed_arguments(param("choice", "2")), R"({"choice": 2})");
  EXPECT_EQ(typed_arguments(param("untyped", "5")), R"({"untyped": "5"})");
  EXPECT_EQ(typed_arguments(param("upper", "5")), R"({"upper": 5})");
  // null, none and nil are null whatever the type.
  EXPECT_EQ(typed_arguments(param("s", "null") + param("i", "None") + param("b", "nil")), R"({"s": null, "i": null, "b": null})");
  // Undeclared parameters, and any parameter without tools: JSON if it parses, else text.
  EXPECT_EQ(typed_arguments(param("extra", "{\"k\": 1}") + param("more", "7") + param("text", "plain")),
            R"({"extra": {"k": 1}, "more": 7, "text": "plain"})");
  EXPECT_EQ(typed_arguments(param("s", "123") + param("b", "true"), nullptr), R"({"s": 123, "b": true})");
  // Tools the parser cannot read are passed over, not trusted.
  const ordered_json odd_tools = ordered_json::parse(R"([{"type": "function", "function": {"name": 5}}, "x",
      {"type": "function", "function": {"name": "typed", "parameters": {"properties": {"s": {"type": "string"}}}}}])");
  EXPECT_EQ(typed_arguments(param("s", "123"), odd_tools), R"({"s": "123"})");
  // A repeated parameter keeps its first place and its last value, as a Python dict does.
  EXPECT_EQ(typed_arguments(param("i", "1") + param("s", "a") + param("i", "2")), R"({"i": 2, "s": "a"})");
}

TEST(MiniMaxM2ToolCalls, MalformedInvokesStayContentVerbatim) {
  const std::string good = "<invoke name=\"search\">\n<parameter name=\"query\">ok</parameter>\n</invoke>";
  for (std::string bad : {
           "<invoke name=\"search\"</invoke>",                                              // header never closed
           "<invoke name=\"\">\n</invoke>",                                                 // empty name
           "<invoke name=\"search\">\nchatter\n<parameter name=\"query\">x</parameter>\n</invoke>",  // text in the body
           "<invoke name=\"search\">\n<parameter name=\"query\">x\n</invoke>",             // parameter never closed
           "<invoke name=\"search\">\n<parameter name=\"query\"</parameter>\n</invoke>",  // parameter header never closed
           "<invoke name=\"search\">\n<parameter name=''>x</parameter>\n</invoke>",        // empty parameter name
       }) {
    std::string text = "Hi\n<minimax:tool_call>\n" + bad + "\n" + good + "\n</minimax:tool_call>";
    ParsedToolCalls r = ToolCallParser(ToolCallFormat::MiniMaxM2, minimax_tools(), counting_ids()).parse(text);
    EXPECT_EQ(r.content, "Hi\n" + bad) << bad;
    ASSERT_EQ(r.tool_calls.size(), 1u) << bad;
    EXPECT_EQ(r.tool_calls[0].name, "search");
    EXPECT_EQ(r.tool_calls[0].arguments, R"({"query": "ok"})");
    expect_tool_streaming_matches(ToolCallFormat::MiniMaxM2, text, minimax_tools());
  }
}

TEST(MiniMaxM2ToolCalls, TextThatIsNotACallIsNeverDropped) {
  auto parse = [](std::string_view text) { return ToolCallParser(ToolCallFormat::MiniMaxM2, minimax_tools()).parse(text); };
  // An invoke outside a <minimax:tool_call> block is text.
  std::string outside = "Use <invoke name=\"search\"><parameter name=\"query\">x</parameter></invoke> like this.";
  EXPECT_EQ(parse(outside).content, outside);
  EXPECT_TRUE(parse(outside).tool_calls.empty());
  // Output cut off inside a call.
  std::string cut = "<minimax:tool_call>\n<invoke name=\"search\">\n<parameter name=\"query\">unfinis";
  EXPECT_EQ(parse(cut).content, "<invoke name=\"search\">\n<parameter name=\"query\">unfinis");
  EXPECT_TRUE(parse(cut).tool_calls.empty());
  // A block that closes before its invoke does.
  ParsedToolCalls early = parse("<minimax:tool_call><invoke name=\"search\">x</minimax:tool_call> after");
  EXPECT_EQ(early.content, "<invoke name=\"search\">x after");
  EXPECT_TRUE(early.tool_calls.empty());
  // Words inside a block, and a block left open after its calls.
  ParsedToolCalls chatter = parse("<minimax:tool_call>\nthinking aloud\n<invoke name=\"search\"></invoke>\n");
  EXPECT_EQ(chatter.content, "\nthinking aloud\n");
  EXPECT_EQ(chatter.tool_calls.size(), 1u);
  EXPECT_EQ(parse("<minimax:tool_call>\n<invoke name=\"search\"></invoke>\n").content, "");
  // A partial start marker at the end.
  EXPECT_EQ(parse("Done. <minimax:tool").content, "Done. <minimax:tool");
}

TEST(MiniMaxM2ToolCalls, StreamingMatchesWholeText) {
  expect_tool_streaming_matches(
      ToolCallFormat::MiniMaxM2,
      "Checking.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n<parameter name=\"location\">Oslo</parameter>\n"
      "<parameter name=\"days\">2</parameter>\n</invoke>\n<invoke name=\"search\">\n<parameter name=\"query\">a</b> <invoke</parameter>\n"
      "<parameter name=\"limit\">3</parameter>\n</invoke>\n</minimax:tool_call>\ntail <minimax:tool_",
      minimax_tools());
  expect_tool_streaming_matches(ToolCallFormat::MiniMaxM2, "<minimax:tool_call> x <invoke name=f></invoke></minimax:tool_call>");
}

TEST(MiniMaxM2ToolCalls, StreamedCallArrivesWithItsClosingTag) {
  ToolCallParser parser(ToolCallFormat::MiniMaxM2, minimax_tools(), counting_ids());
  ToolCallStreamDelta d = parser.feed("Sure.\n<minimax:tool_call>\n<invoke name=\"search\">\n<parameter name=\"query\">q</parameter>\n</invo");
  EXPECT_EQ(d.content, "Sure.\n");
  EXPECT_TRUE(d.tool_calls.empty());
  d = parser.feed("ke>\n<invoke name=\"search\">");
  ASSERT_EQ(d.tool_calls.size(), 2u);
  EXPECT_EQ(d.tool_calls[0].index, 0);
  EXPECT_EQ(d.tool_calls[0].name, "search");
  EXPECT_EQ(d.tool_calls[1].arguments, R"({"query": "q"})");
  d = parser.feed("</invoke>\n</minimax:tool_call>");
  ASSERT_EQ(d.tool_calls.size(), 2u);
  EXPECT_EQ(d.tool_calls[0].index, 1);
  EXPECT_EQ(parser.finish().content, "");
}

// The server's pipeline for MiniMax-M2: the prompt ends with "<think>\n", so
// output starts inside reasoning and only "</think>" appears; the content
// after it goes through the tool-call parser. Streamed one byte at a time and
// in random chunks, the deltas add up to the whole-text result.
TEST(MiniMaxM2ToolCalls, ReasoningThenToolCallsPipeline) {
  const std::string prompt =
      "]~!b[]~b]system\nYou are a helpful assistant.[e~[\n]~b]user\nHi[e~[\n]~b]ai\n<think>\nold\n</think>\n\nHello[e~[\n"
      "]~b]user\nWeather in Oslo?[e~[\n]~b]ai\n<think>\n";
  ASSERT_TRUE(ReasoningParser::prompt_opens_reasoning(prompt));
  const std::string output =
      "The user wants Oslo's weather.\n</think>\n\nChecking.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n"
      "<parameter name=\"location\">Oslo</parameter>\n<parameter name=\"days\">1</parameter>\n</invoke>\n</minimax:tool_call>";
  ReasoningDelta split = ReasoningParser(true).parse(output);
  EXPECT_EQ(split.reasoning, "The user wants Oslo's weather.\n");
  EXPECT_EQ(split.content, "\n\nChecking.\n<minimax:tool_call>\n<invoke name=\"get_weather\">\n"
                           "<parameter name=\"location\">Oslo</parameter>\n<parameter name=\"days\">1</parameter>\n"
                           "</invoke>\n</minimax:tool_call>");
  ParsedToolCalls whole = ToolCallParser(ToolCallFormat::MiniMaxM2, minimax_tools(), counting_ids()).parse(split.content);
  EXPECT_EQ(whole.content, "\n\nChecking.\n");
  ASSERT_EQ(whole.tool_calls.size(), 1u);
  EXPECT_EQ(whole.tool_calls[0].arguments, R"({"location": "Oslo", "days": 1})");

  std::mt19937 rng(11);
  for (int round = 0; round < 40; ++round) {
    ReasoningParser reasoning(true);
    ToolCallParser tools(ToolCallFormat::MiniMaxM2, minimax_tools(), counting_ids());
    std::string reasoning_text, content;
    std::vector<ToolCall> calls;
    auto absorb = [&](ReasoningDelta r, bool last) {
      if (last) {
        ReasoningDelta tail = reasoning.finish();
        r.reasoning += tail.reasoning;
        r.content += tail.content;
      }
      reasoning_text += r.reasoning;
      ToolCallStreamDelta t = tools.feed(r.content);
      if (last) {
        ToolCallStreamDelta tail = tools.finish();
        t.content += tail.content;
        t.tool_calls.insert(t.tool_calls.end(), tail.tool_calls.begin(), tail.tool_calls.end());
      }
      content += t.content;
      for (const ToolCallDelta& c : t.tool_calls) {
        if (size_t(c.index) >= calls.size()) calls.resize(size_t(c.index) + 1);
        if (!c.name.empty()) calls[size_t(c.index)].name = c.name;
        calls[size_t(c.index)].arguments += c.arguments;
      }
    };
    size_t at = 0;
    while (at < output.size()) {
      size_t n = round == 0 ? 1 : 1 + rng() % 9;  // round 0: one byte at a time
      absorb(reasoning.feed(std::string_view(output).substr(at, n)), false);
      at += n;
    }
    absorb({}, true);
    ASSERT_EQ(reasoning_text, split.reasoning) << "round " << round;
    ASSERT_EQ(content, whole.content) << "round " << round;
    ASSERT_EQ(calls.size(), 1u) << "round " << round;
    EXPECT_EQ(calls[0].name, "get_weather");
    EXPECT_EQ(calls[0].arguments, whole.tool_calls[0].arguments);
  }
}

TEST(MiniMaxM2ToolCalls, FormatFromTemplate) {
  EXPECT_EQ(ToolCallParser::format_in_template("{{- '\\n' ~ '<minimax:tool_call>' }}<invoke name=\"tool-name-1\">"),
            ToolCallFormat::MiniMaxM2);
  EXPECT_EQ(ToolCallParser::format_in_template("<tool_call>\n{\"name\": ...}\n</tool_call>"), ToolCallFormat::Hermes);
  EXPECT_EQ(ToolCallParser::format_in_template("<|tool_calls_section_begin|>"), ToolCallFormat::KimiK2);
  EXPECT_FALSE(ToolCallParser::format_in_template("{{ messages[0].content }}").has_value());
}

}  // namespace
}  // namespace strata
