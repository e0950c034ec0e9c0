// StackStorm's Jinja dialect for action parameters and criteria patterns.
//
// Syntax: {{ expression }}, {% if %}/{% elif %}/{% else %}/{% endif %}, {% for x in xs %} (also
// `for k, v in d.items()`, loop.index/index0/revindex/revindex0/first/last/length, {% else %}),
// {% set name = expr %}, {% raw %}, {# comments #}, whitespace control {{- -}} {%- -%} and
// StackStorm's environment settings (trim_blocks, lstrip_blocks, one trailing newline dropped).
// Expressions: names, `.attr`, `[key]`, `.0`, slices, literals (strings, numbers, true/false/
// none in either case, lists, tuples, dicts), filters with arguments and keyword arguments,
// tests (`is defined`, `is none`, `is in`...), not/and/or, comparisons (chained), `in`, `~`,
// + - * / // % ** (Jinja's precedence, `%` string formatting), `a if c else b`, `range()`, and
// the common str/dict methods (lower upper strip split replace startswith endswith join get
// keys values items).
// Filters: Jinja's default/d upper lower capitalize trim replace int float string length/count
// join tojson first last abs round list safe, and StackStorm's to_json_string from_json_string
// from_yaml_string to_yaml_string json_escape to_complex regex_match regex_replace
// regex_search regex_substring basename dirname use_none decrypt_kv jsonpath_query.
//
// Semantics follow StackStorm (Jinja 3 with StrictUndefined): using an undefined name or key is
// an error ("'trigger.missing' is undefined") except through `default`, `is defined`/`is
// undefined`; values print as Python's str() does (True, None, {'a': 1}); a datastore value
// behaves as its string, and a missing datastore key is "" as in StackStorm.
//
// Gale keeps JSON types: a template that is exactly one {{ expression }} (whitespace around
// allowed) evaluates to the expression's JSON value; anything else renders to a string.
// (StackStorm renders every parameter to a string and casts it with the action's parameter
// schema; Gale keeps the value's own type at every nesting level.)
// Known differences from Jinja: integers are 64-bit (overflow is an error, Python would grow
// them); tuples inside lists print as lists; `sameas`, macros, `{% set %}` blocks, loop filters,
// `{% include %}`/`{% extends %}` are not supported (syntax errors); attribute access never
// returns Python methods (trigger.items is the key "items").
// Every error is a value with a one-line message; nothing throws. A parsed Template is
// immutable and may be rendered from several threads at once.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "host/common/json.h"
#include "host/common/result.h"
#include "host/expr/template/context.h"

namespace gale::expr {

namespace tmpl {
struct Program;
}

class Template {
 public:
  // Syntax errors read "unexpected '}}' at column 12" ("at line 2, column 3" when the source
  // has several lines); unknown filters and tests are syntax errors ("unknown filter 'uper'").
  static Result<Template> Parse(std::string_view source);
  // The same, with host functions callable by name ({{ ctx('x') }}, keyword arguments allowed);
  // a call of any other bare name except range() is then a syntax error. Evaluate such a
  // template with TemplateContext::functions set.
  static Result<Template> Parse(std::string_view source, const ExprFunctions* functions);

  // True when the source has no tags at all: it renders to literal_text().
  bool is_literal() const;
  const std::string& literal_text() const;
  // True when the source is exactly one {{ expression }} with only whitespace around it.
  bool is_single_expression() const;

  // The JSON value of a single expression, else the rendered string.
  Result<Json> Evaluate(const TemplateContext& ctx) const;
  // The rendered text (Python str() of every printed value).
  Result<std::string> Render(const TemplateContext& ctx) const;

 private:
  explicit Template(std::shared_ptr<const tmpl::Program> program) : program_(std::move(program)) {}
  std::shared_ptr<const tmpl::Program> program_;
};

// True when StackStorm would treat the string as a template: it contains "{{" or "{%".
bool LooksLikeTemplate(std::string_view s);

// Renders every template string in `value`, recursing through objects and arrays (keys are kept
// as they are). Strings without "{{" or "{%" are kept verbatim, as StackStorm does. A rendered
// value equal to StackStorm's `use_none` marker becomes null. Errors are one line, prefixed with
// the path: "<path>.cmd: unknown filter 'uper'", "<path>.hosts[1]: 'trigger.x' is undefined".
Result<Json> RenderValue(const Json& value, const TemplateContext& ctx, const std::string& path);

// RenderValue(params, ctx, "parameters") for a rule's action parameters.
Result<Json> RenderParameters(const Json& params, const TemplateContext& ctx);

}  // namespace gale::expr
