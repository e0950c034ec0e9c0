#include "host/expr/template/template.h"

#include <exception>

#include "host/expr/template/ast.h"
#include "host/expr/template/evaluator.h"

namespace gale::expr {

namespace {

Status Internal(const std::exception& e) {
  return Status::Error(std::string("internal error while rendering: ") + e.what());
}

struct Walker {
  const TemplateContext& ctx;
  std::size_t rendered = 0;

  Status Walk(const Json& v, Json* out, const std::string& path, int depth) {
    if (depth > ctx.limits.max_depth) return Status::Error(path + ": nested too deeply");
    if (v.is_string()) {
      const std::string& s = v.get_ref<const std::string&>();
      if (!LooksLikeTemplate(s)) {
        *out = v;
        return Status::Ok();
      }
      auto t = Template::Parse(s);
      if (!t.ok()) {
        if (ctx.malformed_as_literal) {
          *out = v;
          return Status::Ok();
        }
        return t.status().WithContext(path);
      }
      auto r = t->Evaluate(ctx);
      if (!r.ok()) return r.status().WithContext(path);
      if (r->is_string()) {
        rendered += r->get_ref<const std::string&>().size();
        if (r->get_ref<const std::string&>() == tmpl::kNoneMagic) *r = nullptr;
      } else if (r->is_array() || r->is_object()) {
        rendered += 16 * r->size();
      }
      if (rendered > ctx.limits.max_output_bytes) {
        return Status::Error(path + ": rendered parameters exceed " +
                             std::to_string(ctx.limits.max_output_bytes) + " bytes");
      }
      *out = std::move(r).value();
      return Status::Ok();
    }
    if (v.is_array()) {
      *out = Json::array();
      for (std::size_t i = 0; i < v.size(); ++i) {
        Json item;
        GALE_TRY(Walk(v[i], &item, path + "[" + std::to_string(i) + "]", depth + 1));
        out->push_back(std::move(item));
      }
      return Status::Ok();
    }
    if (v.is_object()) {
      *out = Json::object();
      for (auto it = v.begin(); it != v.end(); ++it) {
        Json item;
        GALE_TRY(Walk(it.value(), &item, path + "." + it.key(), depth + 1));
        (*out)[it.key()] = std::move(item);
      }
      return Status::Ok();
    }
    *out = v;
    return Status::Ok();
  }
};

}  // namespace

Result<Template> Template::Parse(std::string_view source) {
  return Parse(source, nullptr);
}

Result<Template> Template::Parse(std::string_view source, const ExprFunctions* functions) {
  try {
    GALE_ASSIGN_OR_RETURN(auto p, tmpl::ParseProgram(source, functions));
    return Template(std::move(p));
  } catch (const std::exception& e) {
    return Internal(e);
  }
}

bool Template::is_literal() const {
  return program_->literal;
}

const std::string& Template::literal_text() const {
  return program_->literal_text;
}

bool Template::is_single_expression() const {
  return program_->single_expression >= 0;
}

Result<Json> Template::Evaluate(const TemplateContext& ctx) const {
  try {
    if (program_->literal) return Json(program_->literal_text);
    tmpl::Evaluator ev(*program_, ctx);
    if (program_->single_expression >= 0) {
      Json out;
      GALE_TRY(ev.EvaluateSingle(&out));
      return out;
    }
    std::string text;
    GALE_TRY(ev.Render(&text));
    return Json(std::move(text));
  } catch (const std::exception& e) {
    return Internal(e);
  }
}

Result<std::string> Template::Render(const TemplateContext& ctx) const {
  try {
    if (program_->literal) return program_->literal_text;
    tmpl::Evaluator ev(*program_, ctx);
    std::string text;
    GALE_TRY(ev.Render(&text));
    return text;
  } catch (const std::exception& e) {
    return Internal(e);
  }
}

bool LooksLikeTemplate(std::string_view s) {
  return s.find("{{") != std::string_view::npos || s.find("{%") != std::string_view::npos;
}

Result<Json> RenderValue(const Json& value, const TemplateContext& ctx, const std::string& path) {
  try {
    Walker w{ctx};
    Json out;
    GALE_TRY(w.Walk(value, &out, path, 0));
    return out;
  } catch (const std::exception& e) {
    return Status::Error(path + ": " + Internal(e).message());
  }
}

Result<Json> RenderParameters(const Json& params, const TemplateContext& ctx) {
  return RenderValue(params, ctx, "parameters");
}

}  // namespace gale::expr
