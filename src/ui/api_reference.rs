//! `/docs/api`: the API reference, rendered on the server from the OpenAPI
//! document (`http::openapi`), with a `curl` example per operation that uses
//! placeholders only. Public, like `/openapi.json`: the people who call the
//! verification API build the company's API servers and may have no dashboard
//! account; the page shows routes and shapes, never a secret. No island and
//! no script of its own, so it adds nothing to the wasm bundle.

use leptos::prelude::*;
use leptos_meta::Title;

/// The reference as the page shows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ApiReference {
    /// Where the examples' `$KEYWARD_URL` points on this deployment.
    pub base_url: String,
    pub operations: Vec<OperationDoc>,
    pub schemas: Vec<SchemaDoc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct OperationDoc {
    pub id: String,
    pub method: String,
    pub path: String,
    pub summary: String,
    pub description: String,
    /// One line per accepted set of credentials.
    pub credentials: Vec<String>,
    pub parameters: Vec<FieldDoc>,
    pub body: Option<TypeDoc>,
    pub responses: Vec<ResponseDoc>,
    pub curl: String,
}

/// A parameter or a property: its name, where it goes, its type, whether it is required.
#[derive(Clone, Debug, PartialEq)]
pub struct FieldDoc {
    pub name: String,
    pub location: String,
    pub ty: TypeDoc,
    pub required: bool,
    pub description: String,
}

/// A type as text, and the schema it names, if any (linked on the page).
#[derive(Clone, Debug, PartialEq)]
pub struct TypeDoc {
    pub text: String,
    pub schema: Option<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ResponseDoc {
    pub status: String,
    pub description: String,
    pub body: Option<TypeDoc>,
    /// `Name` (required) or `Name?` (sometimes).
    pub headers: Vec<String>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct SchemaDoc {
    pub name: String,
    pub description: String,
    pub properties: Vec<FieldDoc>,
    pub values: Vec<String>,
}

#[component]
pub fn ApiReferencePage() -> impl IntoView {
    let reference = reference();
    view! {
        <Title text="API reference" />
        <main class="docs-page">
            <header class="docs-header">
                <p class="brand-large">"Keyward"</p>
                <h1>"API reference"</h1>
                <p class="muted">
                    "Generated from " <a href="/openapi.json">"/openapi.json"</a>
                    " (OpenAPI 3.1). The examples read their URL and credentials from the shell: "
                    <code>"KEYWARD_URL"</code> " (here " <code>{reference.base_url.clone()}</code> "), "
                    <code>"KEYWARD_SERVICE_TOKEN"</code> " (Settings → Service tokens) and "
                    <code>"KEYWARD_API_KEY"</code> " (a workspace key). Never paste a real secret into a command line that others can read."
                </p>
                <nav aria-label="Operations">
                    <ul class="docs-toc">
                        {reference.operations.iter().map(|operation| view! {
                            <li>
                                <a href=format!("#{}", operation.id)>
                                    <span class=format!("method {}", operation.method.to_lowercase())>{operation.method.clone()}</span>
                                    " " <code>{operation.path.clone()}</code> " — " {operation.summary.clone()}
                                </a>
                            </li>
                        }).collect_view()}
                        <li><a href="#schemas">"Schemas"</a></li>
                    </ul>
                </nav>
            </header>
            {reference.operations.into_iter().map(operation_view).collect_view()}
            <section class="card docs-section" id="schemas">
                <h2>"Schemas"</h2>
                {reference.schemas.into_iter().map(schema_view).collect_view()}
            </section>
        </main>
    }
}

fn operation_view(operation: OperationDoc) -> impl IntoView {
    view! {
        <section class="card docs-section" id=operation.id.clone()>
            <h2>
                <span class=format!("method {}", operation.method.to_lowercase())>{operation.method.clone()}</span>
                " " <code>{operation.path.clone()}</code>
            </h2>
            <p class="docs-summary">{operation.summary}</p>
            <p>{prose(&operation.description)}</p>
            <h3>"Authentication"</h3>
            <ul>{operation.credentials.into_iter().map(|line| view! { <li>{prose(&line)}</li> }).collect_view()}</ul>
            {(!operation.parameters.is_empty()).then(|| view! {
                <h3>"Parameters"</h3>
                <div class="table-scroll" tabindex="0">
                    <table class="table">
                        <thead><tr><th scope="col">"Name"</th><th scope="col">"In"</th><th scope="col">"Type"</th><th scope="col">"Description"</th></tr></thead>
                        <tbody>{operation.parameters.into_iter().map(field_row).collect_view()}</tbody>
                    </table>
                </div>
            })}
            {operation.body.map(|body| view! {
                <h3>"Request body"</h3>
                <p><code>"application/json"</code> ": " {type_view(body)}</p>
            })}
            <h3>"Responses"</h3>
            <div class="table-scroll" tabindex="0">
                <table class="table">
                    <thead><tr><th scope="col">"Status"</th><th scope="col">"Body"</th><th scope="col">"Description"</th></tr></thead>
                    <tbody>
                        {operation.responses.into_iter().map(|response| view! {
                            <tr>
                                <td><code>{response.status}</code></td>
                                <td>{response.body.map(type_view)}</td>
                                <td>
                                    {prose(&response.description)}
                                    {(!response.headers.is_empty()).then(|| view! {
                                        <p class="muted small">"Headers: " <code>{response.headers.join(", ")}</code></p>
                                    })}
                                </td>
                            </tr>
                        }).collect_view()}
                    </tbody>
                </table>
            </div>
            <h3>"Example"</h3>
            // Focusable, like the tables above: on a phone these scroll
            // sideways, and a keyboard scrolls only what can take focus.
            <pre class="code-block" tabindex="0"><code>{operation.curl}</code></pre>
        </section>
    }
}

fn schema_view(schema: SchemaDoc) -> impl IntoView {
    view! {
        <div class="docs-schema" id=format!("schema-{}", schema.name)>
            <h3><code>{schema.name.clone()}</code></h3>
            <p>{prose(&schema.description)}</p>
            {(!schema.values.is_empty()).then(|| view! {
                <p>"One of: " <code>{schema.values.join(", ")}</code></p>
            })}
            {(!schema.properties.is_empty()).then(|| view! {
                <div class="table-scroll" tabindex="0">
                    <table class="table">
                        <thead><tr><th scope="col">"Field"</th><th scope="col">""</th><th scope="col">"Type"</th><th scope="col">"Description"</th></tr></thead>
                        <tbody>{schema.properties.into_iter().map(field_row).collect_view()}</tbody>
                    </table>
                </div>
            })}
        </div>
    }
}

fn field_row(field: FieldDoc) -> impl IntoView {
    view! {
        <tr>
            <td><code>{field.name}</code></td>
            <td>{field.location} {(!field.required).then_some(" (optional)")}</td>
            <td>{type_view(field.ty)}</td>
            <td>{prose(&field.description)}</td>
        </tr>
    }
}

fn type_view(ty: TypeDoc) -> impl IntoView {
    match ty.schema {
        Some(name) => {
            view! { <a href=format!("#schema-{name}")><code>{ty.text}</code></a> }.into_any()
        }
        None => view! { <code>{ty.text}</code> }.into_any(),
    }
}

/// Text with `code` spans, as the document's descriptions write them.
fn prose(text: &str) -> impl IntoView + use<> {
    text.split('`')
        .enumerate()
        .map(|(at, part)| {
            if at % 2 == 1 {
                view! { <code>{part.to_owned()}</code> }.into_any()
            } else {
                part.to_owned().into_any()
            }
        })
        .collect_view()
}

#[cfg(feature = "ssr")]
fn reference() -> ApiReference {
    // The document is the same for the life of the process: read it once, not
    // on every visit to a public page.
    static READ: std::sync::LazyLock<ApiReference> = std::sync::LazyLock::new(|| {
        let document = serde_json::to_value(crate::http::openapi::document()).unwrap_or_default();
        from_document::read(&document, String::new())
    });
    let base_url = use_context::<crate::state::AppState>()
        .map(|state| state.config.public_url.clone())
        .unwrap_or_default();
    ApiReference {
        base_url,
        ..READ.clone()
    }
}

/// The page has no island: the browser never renders it, so it needs no data there.
#[cfg(not(feature = "ssr"))]
fn reference() -> ApiReference {
    ApiReference::default()
}

/// Reading the OpenAPI document (as JSON) into what the page shows.
#[cfg(feature = "ssr")]
mod from_document {
    use super::*;
    use serde_json::Value;

    fn text(value: &Value) -> String {
        value.as_str().unwrap_or_default().to_owned()
    }

    pub fn read(document: &Value, base_url: String) -> ApiReference {
        let mut operations = Vec::new();
        for (path, item) in document["paths"].as_object().into_iter().flatten() {
            for (method, operation) in item.as_object().into_iter().flatten() {
                operations.push(read_operation(document, path, method, operation));
            }
        }
        // Verification first, as a reader arrives for it; then the management API.
        operations
            .sort_by_key(|operation| (!operation.path.starts_with("/v1/"), operation.path.clone()));
        let schemas = document["components"]["schemas"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(name, schema)| read_schema(name, schema))
            .collect();
        ApiReference {
            base_url,
            operations,
            schemas,
        }
    }

    fn read_operation(
        document: &Value,
        path: &str,
        method: &str,
        operation: &Value,
    ) -> OperationDoc {
        let schemes = &document["components"]["securitySchemes"];
        // One line per credential; each alternative set of them after the first starts with "Or".
        let credentials = operation["security"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
            .flat_map(|(alternative, requirement)| {
                requirement
                    .as_object()
                    .into_iter()
                    .flatten()
                    .enumerate()
                    .map(move |(at, (name, _))| {
                        let or = if alternative > 0 && at == 0 {
                            "Or: "
                        } else {
                            ""
                        };
                        format!("{or}{}", credential_text(&schemes[name]))
                    })
            })
            .collect::<Vec<String>>();
        // An operation without a credential is authenticated by its signed body (GitHub's reports).
        let credentials = if credentials.is_empty() {
            vec!["None: the request is signed; see its header parameters.".to_owned()]
        } else {
            credentials
        };
        let parameters = operation["parameters"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|parameter| FieldDoc {
                name: text(&parameter["name"]),
                location: text(&parameter["in"]),
                ty: type_doc(&parameter["schema"]),
                required: parameter["required"] == true,
                description: text(&parameter["description"]),
            })
            .collect();
        let json_body = &operation["requestBody"]["content"]["application/json"];
        let body = json_body.get("schema").map(type_doc);
        let responses = operation["responses"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(status, response)| ResponseDoc {
                status: status.clone(),
                description: text(&response["description"]),
                body: response["content"]["application/json"]
                    .get("schema")
                    .map(type_doc),
                headers: response["headers"]
                    .as_object()
                    .into_iter()
                    .flatten()
                    .map(|(name, header)| {
                        if header["required"] == true {
                            name.clone()
                        } else {
                            format!("{name}?")
                        }
                    })
                    .collect(),
            })
            .collect();
        OperationDoc {
            id: text(&operation["operationId"]),
            method: method.to_uppercase(),
            path: path.to_owned(),
            summary: text(&operation["summary"]),
            description: text(&operation["description"]),
            credentials,
            parameters,
            body,
            responses,
            curl: curl(schemes, path, method, operation, json_body.get("example")),
        }
    }

    fn credential_text(scheme: &Value) -> String {
        let how = match (scheme["type"].as_str(), scheme["scheme"].as_str()) {
            (Some("apiKey"), _) => format!("`{}` header", text(&scheme["name"])),
            (Some("http"), Some("bearer")) => "`Authorization: Bearer …`".to_owned(),
            _ => text(&scheme["type"]),
        };
        format!("{how}: {}", text(&scheme["description"]))
    }

    /// A `curl` command with placeholders for the URL, the credentials and the path's ids.
    fn curl(
        schemes: &Value,
        path: &str,
        method: &str,
        operation: &Value,
        example: Option<&Value>,
    ) -> String {
        let url_path = path.replace("{id}", "$KEY_ID");
        let mut lines = vec![format!(
            "curl -sS -X {} \"$KEYWARD_URL{url_path}\"",
            method.to_uppercase()
        )];
        let names = operation["security"][0]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for name in names.keys() {
            let scheme = &schemes[name];
            if scheme["type"] == "apiKey" {
                lines.push(format!(
                    "-H \"{}: $KEYWARD_SERVICE_TOKEN\"",
                    text(&scheme["name"])
                ));
            } else {
                lines.push("-H \"Authorization: Bearer $KEYWARD_API_KEY\"".to_owned());
            }
        }
        if let Some(example) = example {
            lines.push("-H \"Content-Type: application/json\"".to_owned());
            // Single-quoted for the shell: a quote inside is closed, escaped and reopened.
            let body = example.to_string().replace('\'', "'\\''");
            lines.push(format!("-d '{body}'"));
        }
        lines.join(" \\\n  ")
    }

    fn schema_name(reference: &Value) -> Option<String> {
        reference
            .as_str()
            .and_then(|target| target.rsplit('/').next())
            .map(str::to_owned)
    }

    fn type_doc(schema: &Value) -> TypeDoc {
        if let Some(name) = schema_name(&schema["$ref"]) {
            return TypeDoc {
                text: name.clone(),
                schema: Some(name),
            };
        }
        if let Some(alternatives) = schema["oneOf"].as_array() {
            let parts: Vec<TypeDoc> = alternatives.iter().map(type_doc).collect();
            return TypeDoc {
                text: parts
                    .iter()
                    .map(|part| part.text.as_str())
                    .collect::<Vec<_>>()
                    .join(" or "),
                schema: parts.into_iter().find_map(|part| part.schema),
            };
        }
        let types: Vec<String> = match &schema["type"] {
            Value::String(one) => vec![one.clone()],
            Value::Array(many) => many.iter().map(text).collect(),
            _ => vec!["any".to_owned()],
        };
        let items = schema.get("items").map(type_doc);
        let described: Vec<String> = types
            .iter()
            .map(|ty| match (ty.as_str(), &items) {
                ("array", Some(items)) => format!("array of {}", items.text),
                ("string", _) if schema["format"].is_string() => {
                    format!("string ({})", text(&schema["format"]))
                }
                _ => ty.clone(),
            })
            .collect();
        TypeDoc {
            text: described.join(" or "),
            schema: items.and_then(|items| items.schema),
        }
    }

    fn read_schema(name: &str, schema: &Value) -> SchemaDoc {
        let required: Vec<&str> = schema["required"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let properties = schema["properties"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(field, property)| {
                // A description beside a `$ref` sits in the oneOf's first alternative.
                let description = property["description"]
                    .as_str()
                    .or_else(|| property["oneOf"][0]["description"].as_str())
                    .unwrap_or_default()
                    .to_owned();
                FieldDoc {
                    name: field.clone(),
                    location: String::new(),
                    ty: type_doc(property),
                    required: required.contains(&field.as_str()),
                    description,
                }
            })
            .collect();
        SchemaDoc {
            name: name.to_owned(),
            description: text(&schema["description"]),
            properties,
            values: schema["enum"]
                .as_array()
                .into_iter()
                .flatten()
                .map(text)
                .collect(),
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn reference() -> ApiReference {
            let document = serde_json::to_value(crate::http::openapi::document()).unwrap();
            read(&document, "https://keyward.example.com".into())
        }

        #[test]
        fn every_operation_is_listed_with_a_curl_example_of_placeholders_only() {
            let reference = reference();
            let listed: Vec<_> = reference
                .operations
                .iter()
                .map(|operation| format!("{} {}", operation.method, operation.path))
                .collect();
            assert_eq!(
                listed,
                [
                    "GET /v1/auth",
                    "POST /v1/keys/verify",
                    "POST /v1/leaks",
                    "POST /v1/leaks/github",
                    "GET /api/v1/audit",
                    "GET /api/v1/audit/head",
                    "GET /api/v1/keys",
                    "POST /api/v1/keys",
                    "PATCH /api/v1/keys/{id}",
                    "POST /api/v1/keys/{id}/revoke",
                    "GET /api/v1/keys/{id}/usage",
                    "GET /api/v1/usage",
                ]
            );
            let verify = &reference.operations[1];
            assert_eq!(
                verify.curl,
                "curl -sS -X POST \"$KEYWARD_URL/v1/keys/verify\" \\\n  \
                 -H \"X-Keyward-Service-Token: $KEYWARD_SERVICE_TOKEN\" \\\n  \
                 -H \"Content-Type: application/json\" \\\n  \
                 -d '{\"client_ip\":\"203.0.113.9\",\"environment\":\"live\",\"key\":\"kw_live_…\",\"scopes\":[\"invoices:write\"]}'"
            );
            for operation in &reference.operations {
                assert!(
                    operation.curl.contains("$KEYWARD_URL"),
                    "{}",
                    operation.curl
                );
                assert!(!operation.credentials.is_empty(), "{}", operation.path);
                assert!(
                    operation
                        .responses
                        .iter()
                        .any(|response| response.status.starts_with('2'))
                );
            }
            let forward = &reference.operations[0];
            assert_eq!(forward.credentials.len(), 2, "{:?}", forward.credentials);
            assert!(forward.credentials[0].starts_with("`X-Keyward-Service-Token` header"));
            assert!(forward.credentials[1].starts_with("`Authorization: Bearer …`"));
            let revoke = reference
                .operations
                .iter()
                .find(|operation| operation.path == "/api/v1/keys/{id}/revoke")
                .unwrap();
            assert!(
                revoke.curl.contains("/api/v1/keys/$KEY_ID/revoke"),
                "{}",
                revoke.curl
            );
            assert!(
                revoke
                    .curl
                    .contains("Authorization: Bearer $KEYWARD_API_KEY")
            );
        }

        #[test]
        fn types_name_their_schemas_and_nullability() {
            let reference = reference();
            let verified = reference
                .schemas
                .iter()
                .find(|schema| schema.name == "VerifiedBody")
                .unwrap();
            let field = |name: &str| {
                verified
                    .properties
                    .iter()
                    .find(|field| field.name == name)
                    .unwrap()
            };
            assert_eq!(
                field("environment").ty.schema.as_deref(),
                Some("Environment")
            );
            assert!(field("environment").required);
            assert_eq!(field("expires_at").ty.text, "string (date-time) or null");
            assert!(!field("expires_at").required);
            assert_eq!(field("scopes").ty.text, "array of string");
            let codes = reference
                .schemas
                .iter()
                .find(|schema| schema.name == "VerifyErrorCode")
                .unwrap();
            assert!(codes.values.contains(&"WRONG_ENVIRONMENT".to_owned()));
        }
    }
}
