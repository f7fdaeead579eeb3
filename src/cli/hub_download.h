// Fetches a model directory from the Hugging Face hub (or a server with the same URL layout) for
// `deja models pull`:
//
//   GET {endpoint}/api/models/{name}/revision/{revision}?blobs=true
//       -> {"sha": COMMIT, "siblings": [{"rfilename": "...", "size": N, "lfs": {"sha256": ...}}]}
//   GET {endpoint}/{name}/resolve/{COMMIT or revision}/{rfilename}   (large files redirect to a
//   CDN)
//
// Only the files deja's embedders read are fetched (HubFileWanted). Every file is written to a
// temporary name beside its destination and checked (size from the listing or Content-Length;
// SHA-256 for LFS files); only when all of them arrived are they renamed into place, so a failed
// pull leaves no partial files (and removes the directories it created). Redirects (301, 302, 303,
// 307, 308; absolute or relative Location) are followed up to 10 times; the token goes only to the
// endpoint's own origin, never to the CDN a redirect names.
//
// Thread safety: one pull per call; the client may be shared.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "deja/status.h"
#include "server/upstream_client.h"

namespace deja::cli {

struct HubPullOptions {
  std::string name;               // "org/model"
  std::string revision = "main";  // branch, tag or commit
  std::string endpoint = "https://huggingface.co";
  std::string token;                     // "" sends no Authorization
  std::string dest;                      // the model directory to fill
  std::vector<std::string> extra_files;  // fetched too, beyond HubFileWanted
};

// Whether deja's runtimes read this repository file: the tokenizer, config and model files of
// model2vec (static) and sentence-transformers (bert) models.
bool HubFileWanted(std::string_view rfilename);

// Errors: InvalidArgument (bad name or revision), NotFound (no such repository, revision or file;
// the message says so), PermissionDenied (gated or private: set HF_TOKEN), Unavailable /
// DeadlineExceeded (network), DataLoss (size or checksum mismatch), Internal (local file I/O).
// `progress` gets one line per event (no trailing newline).
Status PullHubModel(const HubPullOptions& options, server::UpstreamClient& client,
                    const std::function<void(const std::string&)>& progress);

}  // namespace deja::cli
