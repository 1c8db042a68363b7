//! AWS failures in plain words. The AWS adapter sorts every failed call into a
//! [`CloudProblem`] and stores it as `<code>: <what happened>`; pages read that text back
//! through [`explain`] to put one sentence and its fix above AWS's own words. Both halves
//! live here, as pure functions, so that the sorting and the sentences are one table.

use std::fmt;

/// The kinds of AWS failure a person acts on differently.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CloudProblem {
    /// The SDK's credential chain found nothing to sign with.
    NoCredentials,
    /// AWS knows who is calling and refuses the action.
    AccessDenied,
    /// The cluster, service, repository, image or task definition is not there.
    NotFound,
    /// Throttling or an error on AWS's side: worth another try.
    Busy,
    /// No answer from the endpoint: network, DNS, proxy or `AWS_ENDPOINT_URL`.
    Unreachable,
    /// Any other refusal (a bad parameter, a conflicting state): AWS's words say which.
    Refused,
}

/// The code the adapter gives a failure that has no AWS error code of its own.
pub const NO_CREDENTIALS: &str = "NoCredentials";
/// The code of a call that got no answer (connection refused, DNS, timeout).
pub const UNREACHABLE: &str = "Unreachable";

impl CloudProblem {
    pub const ALL: [CloudProblem; 6] = [
        CloudProblem::NoCredentials,
        CloudProblem::AccessDenied,
        CloudProblem::NotFound,
        CloudProblem::Busy,
        CloudProblem::Unreachable,
        CloudProblem::Refused,
    ];

    /// Which kind an error code names. `server_side` is whether AWS answered with a 5xx,
    /// which makes any code worth retrying.
    pub fn of_code(code: &str, server_side: bool) -> CloudProblem {
        match code {
            NO_CREDENTIALS => CloudProblem::NoCredentials,
            UNREACHABLE => CloudProblem::Unreachable,
            "AccessDeniedException"
            | "AccessDenied"
            | "UnauthorizedOperation"
            | "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "SignatureDoesNotMatch"
            | "ExpiredTokenException"
            | "ExpiredToken" => CloudProblem::AccessDenied,
            "ClusterNotFoundException"
            | "ServiceNotFoundException"
            | "ServiceNotActiveException"
            | "RepositoryNotFoundException"
            | "ImageNotFoundException"
            | "ResourceNotFoundException"
            | "TaskDefinitionNotFoundException" => CloudProblem::NotFound,
            "ThrottlingException"
            | "Throttling"
            | "TooManyRequestsException"
            | "RequestLimitExceeded"
            | "ServerException"
            | "ServiceUnavailableException"
            | "ServiceUnavailable"
            | "InternalFailure"
            | "InternalServerError" => CloudProblem::Busy,
            _ if server_side => CloudProblem::Busy,
            _ => CloudProblem::Refused,
        }
    }

    /// Whether the same call may succeed later without anyone changing anything.
    /// Missing credentials, a denial or a missing resource stay that way until fixed.
    pub fn retryable(self) -> bool {
        match self {
            CloudProblem::Busy | CloudProblem::Unreachable => true,
            CloudProblem::NoCredentials
            | CloudProblem::AccessDenied
            | CloudProblem::NotFound
            | CloudProblem::Refused => false,
        }
    }

    /// A name for logs and metrics.
    pub fn as_str(self) -> &'static str {
        match self {
            CloudProblem::NoCredentials => "no_credentials",
            CloudProblem::AccessDenied => "access_denied",
            CloudProblem::NotFound => "not_found",
            CloudProblem::Busy => "busy",
            CloudProblem::Unreachable => "unreachable",
            CloudProblem::Refused => "refused",
        }
    }
}

impl fmt::Display for CloudProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The places the SDK's default credential chain looks, in its order, as a person would
/// name them.
pub const CREDENTIAL_CHAIN: &str = "environment variables, the shared config profile, a web identity token, the ECS container role and EC2 instance metadata";

/// Who was refused what, in AWS's words: `User: <principal> is not authorized to perform:
/// <action> on resource: <resource>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Denial<'a> {
    pub principal: Option<&'a str>,
    pub action: Option<&'a str>,
    pub resource: Option<&'a str>,
}

/// Reads the principal, action and resource out of an access-denied message, when AWS
/// named them. `None` when the message names none of the three.
pub fn parse_denial(message: &str) -> Option<Denial<'_>> {
    /// The text after `marker` up to the first space (or a trailing `.`/`,`).
    fn word_after<'a>(text: &'a str, marker: &str) -> Option<&'a str> {
        let start = text.find(marker)? + marker.len();
        let rest = text[start..].trim_start();
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        let word = rest[..end].trim_end_matches(['.', ',', ';']);
        (!word.is_empty()).then_some(word)
    }
    let denial = Denial {
        principal: word_after(message, "User:"),
        action: word_after(message, "perform:"),
        resource: word_after(message, "on resource:"),
    };
    (denial.principal.is_some() || denial.action.is_some() || denial.resource.is_some())
        .then_some(denial)
}

/// What a stored error means for the person reading it: one sentence, then what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Explanation {
    pub sentence: String,
    pub fix: String,
}

impl Explanation {
    fn new(sentence: impl Into<String>, fix: impl Into<String>) -> Self {
        Explanation {
            sentence: sentence.into(),
            fix: fix.into(),
        }
    }
}

/// Where an error was met, which changes what "it is retried" means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Situation {
    /// A build or deploy that is still going: Shipgate retries until its deadline.
    Retrying,
    /// A build or deploy that ended with this error.
    Ended,
    /// The services or images page's periodic read.
    Inventory,
    /// A preflight check, which someone runs again by hand.
    Verify,
}

/// Splits a stored error, `<code>: <message>`, into its code and message.
fn split_code(error: &str) -> (&str, &str) {
    match error.split_once(": ") {
        Some((code, rest)) if !code.is_empty() && !code.contains(char::is_whitespace) => {
            (code, rest)
        }
        _ => ("", error),
    }
}

/// The sentence and fix for a stored AWS error, or `None` when the text is not one the
/// adapter wrote (a rollout's own outcome, say).
pub fn explain(error: &str, situation: Situation) -> Option<Explanation> {
    // A build that timed out carries the last AWS error it met in parentheses.
    let error = match error.find("(last error: ") {
        Some(at) => error[at + "(last error: ".len()..].trim_end_matches(')'),
        None => error,
    };
    let (code, message) = split_code(error);
    let problem = CloudProblem::of_code(code, false);
    let aws_shaped = ["Exception", "Error", "Fault"]
        .iter()
        .any(|end| code.ends_with(end));
    if code.is_empty() || (problem == CloudProblem::Refused && !aws_shaped) {
        return None;
    }
    let later = match situation {
        Situation::Retrying => "Shipgate keeps retrying until the deadline.",
        Situation::Ended => "Retry the run once it is fixed.",
        Situation::Inventory => "Shipgate reads it again at the next refresh.",
        Situation::Verify => "Run Verify again once it is fixed.",
    };
    Some(match problem {
        CloudProblem::NoCredentials => Explanation::new(
            format!(
                "Shipgate has no AWS credentials: it looked in {CREDENTIAL_CHAIN}, and found none."
            ),
            "Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) where Shipgate runs, or give its task or instance an IAM role; for a local stand-in, also set AWS_ENDPOINT_URL.",
        ),
        CloudProblem::AccessDenied => match parse_denial(message) {
            Some(Denial {
                principal,
                action,
                resource,
            }) => Explanation::new(
                format!(
                    "AWS refused {} the action {}{}.",
                    principal.unwrap_or("Shipgate's identity"),
                    action.unwrap_or("this call needs"),
                    resource.map(|r| format!(" on {r}")).unwrap_or_default(),
                ),
                format!(
                    "Allow {} on {} in that identity's IAM policy.",
                    action.unwrap_or("the action"),
                    resource.unwrap_or("the resource"),
                ),
            ),
            None if matches!(
                code,
                "UnrecognizedClientException"
                    | "InvalidClientTokenId"
                    | "InvalidSignatureException"
                    | "SignatureDoesNotMatch"
            ) =>
            {
                Explanation::new(
                    "AWS does not accept Shipgate's credentials: the key is unknown or its secret is wrong.",
                    "Check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or the profile) that Shipgate runs with.",
                )
            }
            None if code.starts_with("Expired") => Explanation::new(
                "Shipgate's AWS credentials have expired.",
                "Renew the session credentials, or run Shipgate with a role that refreshes them.",
            ),
            None => Explanation::new(
                "AWS refused Shipgate's credentials this action.",
                "Grant the permission AWS names below to the identity Shipgate runs as.",
            ),
        },
        CloudProblem::NotFound => match code {
            "ClusterNotFoundException" => Explanation::new(
                "ECS has no such cluster in this region.",
                "Check the environment's cluster and region.",
            ),
            "ServiceNotFoundException" | "ServiceNotActiveException" => Explanation::new(
                "ECS has no such active service in this cluster and region.",
                "Check the environment's cluster, service and region.",
            ),
            "RepositoryNotFoundException" => Explanation::new(
                "The ECR repository does not exist in this region.",
                "Create it, or check the pipeline's ECR repository and region.",
            ),
            _ => Explanation::new(
                "AWS has no such resource.",
                "Check the names and region that the message below gives.",
            ),
        },
        CloudProblem::Busy => Explanation::new(
            "AWS is throttling Shipgate or had an error on its side.",
            match situation {
                Situation::Ended => "It stayed that way until the deadline; retry the run.",
                _ => later,
            },
        ),
        CloudProblem::Unreachable => Explanation::new(
            "Shipgate could not reach the AWS endpoint.",
            format!("Check the network, any proxy and AWS_ENDPOINT_URL. {later}"),
        ),
        CloudProblem::Refused => Explanation::new(
            "AWS refused the request.",
            format!("AWS's words below say what to change. {later}"),
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_sort_into_the_problem_a_person_acts_on() {
        use CloudProblem::*;
        let table: &[(&str, bool, CloudProblem)] = &[
            ("NoCredentials", false, NoCredentials),
            ("Unreachable", false, Unreachable),
            ("AccessDeniedException", false, AccessDenied),
            ("UnrecognizedClientException", false, AccessDenied),
            ("ExpiredTokenException", false, AccessDenied),
            ("ClusterNotFoundException", false, NotFound),
            ("ServiceNotFoundException", false, NotFound),
            ("RepositoryNotFoundException", false, NotFound),
            ("ThrottlingException", false, Busy),
            ("ServerException", false, Busy),
            ("SomethingNew", true, Busy),
            ("InvalidParameterException", false, Refused),
            ("SomethingNew", false, Refused),
        ];
        for (code, server_side, want) in table {
            assert_eq!(CloudProblem::of_code(code, *server_side), *want, "{code}");
        }
    }

    #[test]
    fn only_throttling_outages_and_silence_are_retried() {
        let retried: Vec<_> = CloudProblem::ALL
            .into_iter()
            .filter(|p| p.retryable())
            .collect();
        assert_eq!(retried, [CloudProblem::Busy, CloudProblem::Unreachable]);
    }

    #[test]
    fn a_denial_names_principal_action_and_resource_in_aws_words() {
        let m = "User: arn:aws:iam::123456789012:user/shipgate is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:us-east-1:123456789012:service/prod/api because no identity-based policy allows the ecs:UpdateService action";
        assert_eq!(
            parse_denial(m),
            Some(Denial {
                principal: Some("arn:aws:iam::123456789012:user/shipgate"),
                action: Some("ecs:UpdateService"),
                resource: Some("arn:aws:ecs:us-east-1:123456789012:service/prod/api"),
            })
        );
        let short = "User: arn:aws:sts::1:assumed-role/ci/x is not authorized to perform: ecr:DescribeImages.";
        let d = parse_denial(short).expect("parsed");
        assert_eq!(d.action, Some("ecr:DescribeImages"));
        assert_eq!(d.resource, None);
        assert_eq!(parse_denial("Access denied"), None);
    }

    #[test]
    fn each_problem_has_one_sentence_and_a_fix() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "NoCredentials: ecr:DescribeImages: no credentials in the chain",
                "no AWS credentials",
                "AWS_ACCESS_KEY_ID",
            ),
            (
                "AccessDeniedException: ecs:UpdateService: User: arn:aws:iam::1:user/sg is not authorized to perform: ecs:UpdateService on resource: arn:aws:ecs:us-east-1:1:service/prod/api",
                "AWS refused arn:aws:iam::1:user/sg the action ecs:UpdateService on arn:aws:ecs:us-east-1:1:service/prod/api.",
                "Allow ecs:UpdateService on arn:aws:ecs:us-east-1:1:service/prod/api",
            ),
            (
                "UnrecognizedClientException: ecs:DescribeServices: The security token included in the request is invalid.",
                "does not accept Shipgate's credentials",
                "AWS_SECRET_ACCESS_KEY",
            ),
            (
                "ClusterNotFoundException: ecs:DescribeServices: Cluster not found.",
                "no such cluster",
                "cluster and region",
            ),
            (
                "ThrottlingException: ecs:DescribeServices: Rate exceeded",
                "throttling",
                "retrying until the deadline",
            ),
            (
                "Unreachable: ecr:DescribeImages: cannot connect to the endpoint: Connection refused (os error 111)",
                "could not reach the AWS endpoint",
                "AWS_ENDPOINT_URL",
            ),
            (
                "InvalidParameterException: ecs:UpdateService: bad thing",
                "refused the request",
                "AWS's words",
            ),
        ];
        for (stored, sentence, fix) in cases {
            let e = explain(stored, Situation::Retrying).expect(stored);
            assert!(e.sentence.contains(sentence), "{stored}: {}", e.sentence);
            assert!(e.fix.contains(fix), "{stored}: {}", e.fix);
            assert!(
                !e.sentence.contains('{') && !e.fix.contains('{'),
                "no debug shapes"
            );
        }
    }

    #[test]
    fn the_fix_follows_where_the_error_was_met() {
        let stored = "ThrottlingException: ecs:DescribeServices: Rate exceeded";
        let fix = |s| explain(stored, s).unwrap().fix;
        assert!(fix(Situation::Retrying).contains("keeps retrying"));
        assert!(fix(Situation::Ended).contains("until the deadline; retry"));
        assert!(fix(Situation::Inventory).contains("next refresh"));
    }

    #[test]
    fn text_that_is_not_an_aws_error_is_left_alone() {
        assert_eq!(
            explain("ECS rolled the deployment back", Situation::Ended),
            None
        );
        assert_eq!(explain("", Situation::Ended), None);
        assert_eq!(explain("FAILED: tasks stopped", Situation::Ended), None);
    }

    #[test]
    fn a_timed_out_build_is_explained_by_its_last_error() {
        let stored = "no image `demo:abc` appeared in ECR (us-east-1) within 60m (last error: NoCredentials: ecr:DescribeImages: none found)";
        let e = explain(stored, Situation::Ended).expect("explained");
        assert!(e.sentence.contains("no AWS credentials"), "{}", e.sentence);
    }
}
