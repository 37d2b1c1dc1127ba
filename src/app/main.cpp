// plyr: one binary, subcommands (product.md §8.1).
#include <cstdio>
#include <string>

#include <CLI/CLI.hpp>

#include "app/atproto_commands.hpp"
#include "app/commands.hpp"
#include "app/exit_codes.hpp"
#include "app/media_command.hpp"

int main(int argc, char** argv) {
    using namespace plyr::app;
    CLI::App cli{"plyr — a music streaming platform on the AT Protocol", "plyr"};
    cli.require_subcommand(1);
    cli.set_help_all_flag("--help-all", "show help for every subcommand");

    ServeOptions serve;
    std::string host;
    int port = -1;
    int serve_workers = -1;
    auto* serve_cmd = cli.add_subcommand("serve", "run the HTTP API, web app and (by default) in-process job workers");
    serve_cmd->add_option("--host", host, "address to listen on (HOST)");
    serve_cmd->add_option("--port", port, "TCP port (PORT; 0 = any free port)")->check(CLI::Range(0, 65535));
    serve_cmd->add_option("--workers", serve_workers, "in-process job workers (WORKER_CONCURRENCY; 0 = none)")
        ->check(CLI::Range(0, 1024));

    WorkerOptions worker;
    int concurrency = -1;
    std::string types;
    auto* worker_cmd = cli.add_subcommand("worker", "run job workers only (scale-out)");
    worker_cmd->add_option("--concurrency", concurrency, "concurrent jobs (WORKER_CONCURRENCY)")
        ->check(CLI::Range(1, 1024));
    worker_cmd->add_option("--types", types, "comma list of job types to run (default: all)");

    MigrateOptions migrate;
    auto* migrate_cmd = cli.add_subcommand("migrate", "apply pending database migrations");
    migrate_cmd->add_flag("--status", migrate.status, "list applied and pending migrations; change nothing");
    migrate_cmd->add_flag("--dry-run", migrate.dry_run, "show what would be applied; change nothing");

    auto* config_cmd = cli.add_subcommand("config", "configuration tools");
    config_cmd->require_subcommand(1);
    auto* check_cmd = config_cmd->add_subcommand("check", "validate the configuration and print it (secrets redacted)");
    auto* docs_cmd = config_cmd->add_subcommand("docs", "print docs/configuration.md");
    docs_cmd->group("");  // hidden: used to keep the docs in step with the code

    auto* version_cmd = cli.add_subcommand("version", "print version, build and schema version");

    std::string keygen_kind;
    auto* keygen_cmd = cli.add_subcommand("keygen", "print a new secret to stdout");
    keygen_cmd
        ->add_option("kind", keygen_kind,
                     "oauth-jwk (OAUTH_JWK), encryption-key (OAUTH_ENCRYPTION_KEY) or labeler-key "
                     "(MODERATION_LABELER_SIGNING_KEY, then its did:key)")
        ->required()
        ->check(CLI::IsMember({"oauth-jwk", "encryption-key", "labeler-key"}));

    auto* atproto_cmd = cli.add_subcommand("atproto", "AT Protocol tools for operators and debugging");
    atproto_cmd->require_subcommand(1);
    std::string cid_file;
    auto* cid_cmd = atproto_cmd->add_subcommand("cid", "print the DAG-CBOR CID of a JSON record");
    cid_cmd->add_option("file", cid_file, "record as JSON ($link, $bytes and blob conventions)")->required();
    auto* tid_cmd = atproto_cmd->add_subcommand("tid", "print a fresh TID");
    std::string jwt_token;
    std::string jwt_did_key;
    std::string resolve_id;
    auto* resolve_cmd =
        atproto_cmd->add_subcommand("resolve", "resolve a handle or DID (DID, handle, PDS, keys as JSON)");
    resolve_cmd->add_option("identifier", resolve_id, "handle or DID")->required();
    std::string get_uri;
    auto* get_cmd = atproto_cmd->add_subcommand("get", "fetch one record from its PDS");
    get_cmd->add_option("at-uri", get_uri, "at://<did|handle>/<collection>/<rkey>")->required();
    std::string ls_repo;
    std::string ls_collection;
    auto* ls_cmd = atproto_cmd->add_subcommand("ls", "list the records of a collection");
    ls_cmd->add_option("repo", ls_repo, "DID or handle")->required();
    ls_cmd->add_option("collection", ls_collection, "collection NSID, e.g. fm.plyr.track")->required();
    std::string lexicon_dir;
    std::string validate_nsid;
    std::string validate_file;
    auto* validate_cmd = atproto_cmd->add_subcommand("validate", "validate a JSON record against a lexicon");
    validate_cmd->add_option("lexicon-dir", lexicon_dir, "directory of lexicon JSON files (e.g. lexicons/)")
        ->required();
    validate_cmd->add_option("nsid", validate_nsid, "record type, e.g. fm.plyr.track")->required();
    validate_cmd->add_option("file", validate_file, "the record as JSON")->required();
    auto* verify_jwt_cmd =
        atproto_cmd->add_subcommand("verify-jwt", "verify a JWT's signature and times with a did:key");
    verify_jwt_cmd->add_option("token", jwt_token, "compact JWT")->required();
    verify_jwt_cmd->add_option("did-key", jwt_did_key, "did:key of the signer")->required();

    MediaCommand media;
    AddMediaCommand(cli, media);

    try {
        cli.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        int code = cli.exit(e);
        return code == 0 ? kExitOk : kExitUsage;
    }

    if (MediaCommandSelected(media)) return RunMediaCommand(media);
    if (*serve_cmd) {
        if (!host.empty()) serve.overrides["HOST"] = host;
        if (port >= 0) serve.overrides["PORT"] = std::to_string(port);
        if (serve_workers >= 0) {
            serve.overrides["WORKER_CONCURRENCY"] = std::to_string(serve_workers);
            serve.overrides["WORKER_IN_PROCESS"] = serve_workers == 0 ? "false" : "true";
        }
        return RunServe(serve);
    }
    if (*worker_cmd) {
        if (concurrency > 0) worker.overrides["WORKER_CONCURRENCY"] = std::to_string(concurrency);
        std::string item;
        for (char c : types + ",") {
            if (c == ',') {
                if (!item.empty()) worker.types.push_back(item);
                item.clear();
            } else if (c != ' ') {
                item += c;
            }
        }
        return RunWorker(worker);
    }
    if (*migrate_cmd) return RunMigrate(migrate);
    if (*check_cmd) return RunConfigCheck();
    if (*docs_cmd) return RunConfigDocs();
    if (*version_cmd) return RunVersion();
    if (*keygen_cmd) return RunKeygen(keygen_kind);
    if (*cid_cmd) return RunAtprotoCid(cid_file);
    if (*tid_cmd) return RunAtprotoTid();
    if (*resolve_cmd) return RunAtprotoResolve(resolve_id);
    if (*get_cmd) return RunAtprotoGet(get_uri);
    if (*ls_cmd) return RunAtprotoLs(ls_repo, ls_collection);
    if (*validate_cmd) return RunAtprotoValidate(lexicon_dir, validate_nsid, validate_file);
    if (*verify_jwt_cmd) return RunAtprotoVerifyJwt(jwt_token, jwt_did_key);
    return kExitUsage;
}
