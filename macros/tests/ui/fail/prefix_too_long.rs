use token_runtime_id::runtime_id;

#[runtime_id(prefix = "PPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPPP")]
fn process_request() {}

fn main() {
    process_request();
}
