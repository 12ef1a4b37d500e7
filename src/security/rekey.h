/* rekey.h — key rotation of the files that hold C2 data sealed (docs/security.md, "Key
 * rotation"): every store outside the meta store, re-sealed under a new key before the meta store
 * records it. */
#ifndef TB_SECURITY_REKEY_H
#define TB_SECURITY_REKEY_H

#include <stdint.h>

#include "store/crypt.h"
#include "tagbase.h"

typedef struct tb__reseal_counts {
    uint64_t segments;       /* business-data domain segments rewritten */
    uint64_t snapshot_files; /* C2 column files of profile snapshots */
    uint64_t tag_files;      /* files of C2 tags in tag stores */
} tb__reseal_counts;

/* Rewrites, sealed under `to`, every file of the data directory that holds C2 data and is not
 * under `to` yet (clear ones too: the first encryption of a plaintext store): the registered
 * domain segments, the C2 columns of every registered snapshot, the C2 tags of every registered
 * tag store. Each file is replaced crash-safely; a crash midway leaves files under both keys, all
 * readable while the key file holds both (which rotation guarantees), and a second run finishes.
 * Needs the writer. 0 or a negative TB_E* with the detail on the handle; *n (may be NULL) counts
 * what was rewritten. */
int tb__files_c2_reseal(tb_db *db, const tb__c2key *to, tb__reseal_counts *n);

#endif
