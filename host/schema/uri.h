// Just enough RFC 3986 for $ref and id/$id: reference resolution and fragment decoding.
#pragma once

#include <string>
#include <string_view>

namespace gale::schema::detail {

// Resolves `ref` against `base` (RFC 3986 section 5.2). An empty base leaves `ref` as is, so
// schemas without ids keep working with plain "#/definitions/x" references.
std::string ResolveUri(std::string_view base, std::string_view ref);

// Splits "uri#fragment" into the part before '#' and the percent-decoded fragment.
void SplitFragment(std::string_view uri, std::string* document, std::string* fragment);

// Drops an empty trailing fragment: "http://x/s#" names the same document as "http://x/s".
std::string StripEmptyFragment(std::string uri);

}  // namespace gale::schema::detail
