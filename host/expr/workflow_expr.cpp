#include "host/expr/workflow_expr.h"

#include <cstdio>
#include <exception>
#include <utility>
#include <vector>

#include "host/expr/py_value.h"
#include "host/expr/template/template.h"
#include "host/expr/yaql/yaql.h"

namespace gale::expr {

namespace {

constexpr std::size_t kMaxRenderedBytes = 1 << 20;

// Orquesta's statuses.COMPLETED_STATUSES.
bool IsCompleted(const std::string& s) {
  return s == "succeeded" || s == "failed" || s == "expired" || s == "abandoned" || s == "canceled";
}

struct Signature {
  std::string_view name;
  FunctionSignature sig;
};

const std::vector<Signature>& Signatures() {
  static const std::vector<Signature> kSignatures = {
      {"ctx", {{"key"}, 0}},      {"result", {{}, 0}},
      {"item", {{"key"}, 0}},     {"succeeded", {{}, 0}},
      {"failed", {{}, 0}},        {"completed", {{}, 0}},
      {"task", {{"task_id"}, 0}}, {"st2kv", {{"key", "decrypt"}, 1}},
  };
  return kSignatures;
}

// The workflow functions over one ExprContext (none: parse time only).
class WorkflowFunctions final : public ExprFunctions {
 public:
  explicit WorkflowFunctions(const ExprContext* ctx) : ctx_(ctx) {}

  const FunctionSignature* Find(std::string_view name) const override {
    for (const Signature& s : Signatures()) {
      if (s.name == name) return &s.sig;
    }
    return nullptr;
  }

  Status Call(std::string_view name, std::vector<std::optional<Json>>& args,
              FunctionResult* out) const override {
    if (!ctx_) return Status::Error("not available outside a running workflow");
    if (name == "ctx") return Ctx(args, out);
    if (name == "result") {
      const Json* r = ctx_->CurrentResult();
      if (!r) return Status::Error("the current task is not set");
      out->ref = r;
      return Status::Ok();
    }
    if (name == "item") return Item(args, out);
    if (name == "succeeded" || name == "failed" || name == "completed") {
      const std::string status = ctx_->CurrentStatus();
      if (status.empty()) return Status::Error("the current task is not set");
      out->value = name == "completed" ? IsCompleted(status) : status == name;
      return Status::Ok();
    }
    if (name == "task") {
      std::optional<std::string> task;
      if (args[0] && !args[0]->is_null()) {
        if (!args[0]->is_string()) return Status::Error("the task name must be a string");
        task = args[0]->get<std::string>();
      }
      return ctx_->Task(task, &out->value);
    }
    if (name == "st2kv") return Kv(args, out);
    return Status::Error("unknown function");
  }

 private:
  Status Ctx(std::vector<std::optional<Json>>& args, FunctionResult* out) const {
    const Json& vars = ctx_->Vars();
    if (!args[0] || args[0]->is_null() || (args[0]->is_string() && args[0]->empty())) {
      out->ref = &vars;
      return Status::Ok();
    }
    if (!args[0]->is_string()) return Status::Error("the variable name must be a string");
    const std::string& key = args[0]->get_ref<const std::string&>();
    if (vars.is_object()) {
      auto it = vars.find(key);
      if (it != vars.end()) {
        out->ref = &*it;
        return Status::Ok();
      }
    }
    return Status::Error("the variable \"" + key + "\" is undefined");
  }

  Status Item(std::vector<std::optional<Json>>& args, FunctionResult* out) const {
    const Json* item = ctx_->CurrentItem();
    if (!item) return Status::Error("there is no current item (not in a with-items task)");
    if (!args[0] || args[0]->is_null()) {
      out->ref = item;
      return Status::Ok();
    }
    if (!args[0]->is_string()) return Status::Error("the key must be a string");
    if (!item->is_object()) return Status::Error("the item is not a dict");
    const std::string& key = args[0]->get_ref<const std::string&>();
    auto it = item->find(key);
    if (it == item->end()) return Status::Error("the item does not have key \"" + key + "\"");
    out->ref = &*it;
    return Status::Ok();
  }

  Status Kv(std::vector<std::optional<Json>>& args, FunctionResult* out) const {
    if (!args[0]->is_string()) return Status::Error("the key must be a string");
    const std::string& key = args[0]->get_ref<const std::string&>();
    const bool decrypt = args[1] && py::Truthy(*args[1]);
    constexpr std::string_view kSystem = "system.";
    const bool system = key.compare(0, kSystem.size(), kSystem) == 0;
    const std::string name = system ? key.substr(kSystem.size()) : key;
    auto value = ctx_->Kv(system ? KvScope::kSystem : KvScope::kUser, name, decrypt);
    if (!value.ok()) return value.status();
    if (!*value) return Status::Error("the key \"" + key + "\" does not exist in the datastore");
    out->value = std::move(**value);
    return Status::Ok();
  }

  const ExprContext* ctx_;
};

const WorkflowFunctions& Catalog() {
  static const WorkflowFunctions kCatalog(nullptr);
  return kCatalog;
}

// `expression '<% ctx(x) %>'` for messages, shortened when long.
std::string Quote(std::string_view s) {
  constexpr std::size_t kMax = 120;
  std::string out = "expression '";
  if (s.size() <= kMax) {
    out.append(s);
  } else {
    std::size_t cut = kMax;
    while (cut > 0 && (static_cast<unsigned char>(s[cut]) & 0xC0) == 0x80) --cut;
    out.append(s.substr(0, cut));
    out += "...";
  }
  return out + "'";
}

}  // namespace

Status ExprContext::Task(const std::optional<std::string>& name, Json*) const {
  return Status::Error(name ? "no task \"" + *name + "\"" : std::string("no current task"));
}

Result<std::optional<std::string>> ExprContext::Kv(KvScope, const std::string&, bool) const {
  return std::optional<std::string>();
}

struct WorkflowExpression::Impl {
  struct Segment {
    std::string text;                      // literal text before the expression
    std::optional<yaql::Expression> yaql;  // the expression (absent: trailing text)
    std::size_t begin = 0;                 // the span `<% ... %>` in source
    std::size_t end = 0;
  };
  std::string source;
  Language language = Language::kLiteral;
  bool single = false;
  std::vector<Segment> segments;  // kYaql
  std::optional<Template> jinja;  // kJinja
};

bool HasWorkflowExpression(std::string_view s) {
  return s.find("<%") != std::string_view::npos || LooksLikeTemplate(s);
}

const ExprFunctions& WorkflowFunctionCatalog() {
  return Catalog();
}

namespace {

// Both parsers end their messages with " at column C" or " at line L, column C".
void PositionOf(const std::string& message, SourcePosition* out) {
  const std::size_t at = message.rfind(" at ");
  if (at == std::string::npos) return;
  int line = 1, column = 0;
  const char* p = message.c_str() + at + 4;
  if (std::sscanf(p, "line %d, column %d", &line, &column) == 2 ||
      (line = 1, std::sscanf(p, "column %d", &column) == 1)) {
    out->line = line;
    out->column = column;
  }
}

}  // namespace

Result<WorkflowExpression> WorkflowExpression::Parse(std::string_view source,
                                                     SourcePosition* error_at) {
  auto r = ParseSpans(source);
  if (!r.ok() && error_at) PositionOf(r.message(), error_at);
  return r;
}

Result<WorkflowExpression> WorkflowExpression::ParseSpans(std::string_view source) {
  try {
    auto impl = std::make_shared<Impl>();
    impl->source = std::string(source);
    const std::size_t yaql_at = source.find("<%");
    const bool jinja = LooksLikeTemplate(source);
    if (yaql_at != std::string_view::npos && jinja) {
      std::size_t jinja_at = std::min(source.find("{{"), source.find("{%"));
      return Status::Error("a string may hold <% %> or {{ }} expressions, not both, at " +
                           yaql::Where(source, std::max(yaql_at, jinja_at)));
    }
    if (jinja) {
      auto t = Template::Parse(source, &Catalog());
      if (!t.ok()) return Status::Error(Quote(source) + ": " + t.message());
      impl->language = Language::kJinja;
      impl->single = t->is_single_expression();
      impl->jinja = std::move(t).value();
      return WorkflowExpression(std::move(impl));
    }
    if (yaql_at == std::string_view::npos) return WorkflowExpression(std::move(impl));

    impl->language = Language::kYaql;
    std::size_t pos = 0;
    bool other_text = false;
    while (true) {
      const std::size_t open = source.find("<%", pos);
      Impl::Segment seg;
      seg.text =
          std::string(source.substr(pos, open == std::string_view::npos ? open : open - pos));
      for (char c : seg.text) {
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') other_text = true;
      }
      if (open == std::string_view::npos) {
        if (!seg.text.empty()) impl->segments.push_back(std::move(seg));
        break;
      }
      const std::size_t close = source.find("%>", open + 2);
      if (close == std::string_view::npos) {
        return Status::Error("unterminated '<%' at " + yaql::Where(source, open));
      }
      auto e = yaql::Expression::Parse(source, open + 2, close, &Catalog());
      if (!e.ok()) {
        return Status::Error(Quote(source.substr(open, close + 2 - open)) + ": " + e.message());
      }
      seg.yaql = std::move(e).value();
      seg.begin = open;
      seg.end = close + 2;
      impl->segments.push_back(std::move(seg));
      pos = close + 2;
    }
    std::size_t expressions = 0;
    for (const auto& s : impl->segments) expressions += s.yaql ? 1 : 0;
    impl->single = expressions == 1 && !other_text;
    return WorkflowExpression(std::move(impl));
  } catch (const std::exception& e) {
    return Status::Error(std::string("internal error while parsing an expression: ") + e.what());
  }
}

WorkflowExpression::Language WorkflowExpression::language() const {
  return impl_->language;
}

const std::string& WorkflowExpression::source() const {
  return impl_->source;
}

bool WorkflowExpression::is_single_expression() const {
  return impl_->single;
}

Result<Json> WorkflowExpression::Evaluate(const ExprContext& ctx) const {
  try {
    const Impl& im = *impl_;
    WorkflowFunctions functions(&ctx);
    if (im.language == Language::kLiteral) return Json(im.source);
    if (im.language == Language::kJinja) {
      TemplateContext tctx;
      tctx.functions = &functions;
      tctx.kv = [&ctx](KvScope scope, const std::string& name) -> std::optional<std::string> {
        auto v = ctx.Kv(scope, name, false);
        if (!v.ok()) return std::nullopt;
        return *v;
      };
      auto r = im.jinja->Evaluate(tctx);
      if (!r.ok()) return Status::Error(Quote(im.source) + ": " + r.message());
      return r;
    }
    std::string out;
    for (const auto& seg : im.segments) {
      out += seg.text;
      if (!seg.yaql) continue;
      auto v = seg.yaql->Evaluate(ctx.Vars(), &functions);
      if (!v.ok()) {
        return Status::Error(
            Quote(std::string_view(im.source).substr(seg.begin, seg.end - seg.begin)) + ": " +
            v.message());
      }
      if (im.single) return v;
      // Orquesta replaces the expression with Python's str() of its value.
      if (v->is_string()) {
        out += v->get_ref<const std::string&>();
      } else if (!py::AppendStr(out, *v, kMaxRenderedBytes)) {
        return Status::Error(Quote(im.source) + ": rendered text too large");
      }
      if (out.size() > kMaxRenderedBytes) {
        return Status::Error(Quote(im.source) + ": rendered text too large");
      }
    }
    return Json(std::move(out));
  } catch (const std::exception& e) {
    return Status::Error(std::string("internal error while evaluating an expression: ") + e.what());
  }
}

}  // namespace gale::expr
