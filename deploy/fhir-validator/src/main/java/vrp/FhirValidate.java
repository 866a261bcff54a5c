package vrp;

import ca.uhn.fhir.context.FhirContext;
import ca.uhn.fhir.context.support.DefaultProfileValidationSupport;
import ca.uhn.fhir.validation.FhirValidator;
import ca.uhn.fhir.validation.SingleValidationMessage;
import ca.uhn.fhir.validation.ValidationResult;
import com.fasterxml.jackson.core.JsonParser;
import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ArrayNode;
import com.fasterxml.jackson.databind.node.JsonNodeFactory;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.util.Map;
import org.hl7.fhir.common.hapi.validation.support.CommonCodeSystemsTerminologyService;
import org.hl7.fhir.common.hapi.validation.support.InMemoryTerminologyServerValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.SnapshotGeneratingValidationSupport;
import org.hl7.fhir.common.hapi.validation.support.ValidationSupportChain;
import org.hl7.fhir.common.hapi.validation.validator.FhirInstanceValidator;

/**
 * Validates FHIR R4 resources against the base specification with HAPI FHIR's HL7 validator,
 * so the test suite checks the service's FHIR with someone else's code, not its own.
 *
 * <p>Reads one JSON object from stdin, {"name": resource, ...}, and writes one to stdout,
 * {"name": [{"severity", "location", "message"}, ...], ...}, in the same order. Everything
 * runs in one JVM because the validator's first use costs seconds (loading the specification)
 * and every later resource tens of milliseconds. Exit 0 whatever the resources' issues (one
 * that is not an object, or that the validator fails on, gets a "fatal" issue); exit 2, with
 * a message on stderr, when stdin is not a JSON object. JSON is read and written with the
 * Jackson that HAPI itself depends on.
 *
 * <p>Offline by design: only the base R4 specification that HAPI ships is known. Profiles a
 * resource declares in meta.profile (UK Core, BaRS) cannot be fetched, so they are reported
 * as warnings, not errors: "valid" here means valid R4, not conformant to those profiles.
 */
public final class FhirValidate {
    /** HAPI's message id for a profile named in meta.profile that it could not fetch. */
    private static final String UNKNOWN_PROFILE = "Validation_VAL_Profile_Unknown";

    private FhirValidate() {}

    public static void main(String[] args) throws IOException {
        // Exact decimals (a resource's 1.50 stays 1.50, not the double 1.5) and an error on
        // a repeated key (the tree would keep only the last one, hiding it from the validator).
        ObjectMapper json = new ObjectMapper()
                .enable(DeserializationFeature.USE_BIG_DECIMAL_FOR_FLOATS)
                .enable(JsonParser.Feature.STRICT_DUPLICATE_DETECTION)
                .setNodeFactory(JsonNodeFactory.withExactBigDecimals(true));
        JsonNode input;
        try {
            input = json.readTree(System.in);
        } catch (IOException e) {
            System.err.println("fhir-validator: stdin is not JSON: " + e.getMessage());
            System.exit(2);
            return;
        }
        if (input == null || !input.isObject()) {
            System.err.println("fhir-validator: stdin must be a JSON object {name: resource}");
            System.exit(2);
            return;
        }

        FhirValidator validator = newValidator();
        ObjectNode output = json.createObjectNode();
        for (Map.Entry<String, JsonNode> resource : input.properties()) {
            ArrayNode issues = output.putArray(resource.getKey());
            if (!resource.getValue().isObject()) {
                // HAPI cannot even tell such input's format: say so, and go on with the rest.
                addIssue(issues, "fatal", "", "not a JSON object, so not a FHIR resource");
                continue;
            }
            try {
                // The validator reads the JSON text itself (not a parsed HAPI model), so unknown
                // properties and wrong JSON types reach it instead of being dropped by a parser.
                String text = json.writeValueAsString(resource.getValue());
                ValidationResult result = validator.validateWithResult(text);
                for (SingleValidationMessage message : result.getMessages()) {
                    addIssue(issues, severity(message), message.getLocationString(), message.getMessage());
                }
            } catch (RuntimeException e) {
                // One resource the validator chokes on is that resource's failure, not the run's.
                addIssue(issues, "fatal", "", "the validator failed: " + e);
            }
        }
        System.out.println(json.writeValueAsString(output));
    }

    /**
     * The issue's severity, but a warning for a declared profile that cannot be fetched.
     * setErrorForUnknownProfiles(false) makes the validator itself warn about it; HAPI's wrapper
     * adds its own error ("Failed to retrieve profile"), which that setting does not cover.
     */
    private static String severity(SingleValidationMessage message) {
        if (UNKNOWN_PROFILE.equals(message.getMessageId())) {
            return "warning";
        }
        return message.getSeverity().getCode();
    }

    private static void addIssue(ArrayNode issues, String severity, String location, String message) {
        ObjectNode issue = issues.addObject();
        issue.put("severity", severity);
        issue.put("location", location == null ? "" : location);
        issue.put("message", message);
    }

    /** One validator over the base R4 specification, made once and reused for every resource. */
    private static FhirValidator newValidator() {
        FhirContext context = FhirContext.forR4();
        ValidationSupportChain support = new ValidationSupportChain(
                // The specification's StructureDefinitions, ValueSets and CodeSystems.
                new DefaultProfileValidationSupport(context),
                // Code systems with rules rather than lists: UCUM, languages, currencies...
                new CommonCodeSystemsTerminologyService(context),
                // Expands and checks the enumerated ValueSets (required bindings) locally.
                new InMemoryTerminologyServerValidationSupport(context),
                // Snapshots for profiles that come with a differential only.
                new SnapshotGeneratingValidationSupport(context));
        FhirInstanceValidator instanceValidator = new FhirInstanceValidator(support);
        // An unfetchable declared profile is a limit of this offline tool, not a fault in R4.
        instanceValidator.setErrorForUnknownProfiles(false);
        FhirValidator validator = context.newValidator();
        validator.registerValidatorModule(instanceValidator);
        return validator;
    }
}
